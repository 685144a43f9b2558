package cmd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relayctl/relayctl/internal/syncbuf"
	"github.com/relayctl/relayctl/probe/netcheck"
	"github.com/relayctl/relayctl/relay/stunserver"
)

func init() {
	// Netcheck tests stay on loopback: no port-mapping probe of the
	// host's real gateway.
	netcheckGateway = func() (netip.Addr, netip.Addr, error) {
		return netip.Addr{}, netip.Addr{}, errors.New("no gateway in tests")
	}
}

func startSTUN(t *testing.T) int {
	t.Helper()
	st := stunserver.New(nil, nil)
	if err := st.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	go st.Serve(t.Context())
	return st.LocalAddr().(*net.UDPAddr).Port
}

func stunOnlyJSON(name string, region, stunPort int) string {
	return `{"Name":"` + name + `","RegionID":` + strconv.Itoa(region) + `,"HostName":"127.0.0.1","IPv4":"127.0.0.1","IPv6":"none","STUNOnly":true,"STUNPort":` + strconv.Itoa(stunPort) + `}`
}

func TestNetcheckJSONFields(t *testing.T) {
	path := writeProbeMap(t,
		regionJSON(900, "one", stunOnlyJSON("900a", 900, startSTUN(t))),
		regionJSON(901, "two", stunOnlyJSON("901a", 901, startSTUN(t))))
	stdout, stderr, code := runCLI(t, "netcheck", "--derp-map", path, "--json")
	if code != 0 {
		t.Fatalf("exit %d, stderr %s", code, stderr)
	}
	var rep map[string]any
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("stdout is not one JSON object: %v\n%s", err, stdout)
	}
	for field, want := range map[string]any{
		"UDP": true, "IPv4": true, "IPv6": false, "IPv4CanSend": true,
		"MappingVariesByDestIP": false, "GlobalV6": "", "ICMPv4": false,
		"UPnP": nil, "PMP": nil, "PCP": nil, "CaptivePortal": nil,
	} {
		if got, ok := rep[field]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", field, got, ok, want)
		}
	}
	if v4, _ := rep["GlobalV4"].(string); !strings.HasPrefix(v4, "127.0.0.1:") || v4 == "127.0.0.1:0" {
		t.Errorf("GlobalV4 = %v, want 127.0.0.1:<port>", rep["GlobalV4"])
	}
	pref, _ := rep["PreferredDERP"].(float64)
	if pref != 900 && pref != 901 {
		t.Errorf("PreferredDERP = %v, want 900 or 901", rep["PreferredDERP"])
	}
	for _, field := range []string{"RegionLatency", "RegionV4Latency"} {
		lat, _ := rep[field].(map[string]any)
		for _, id := range []string{"900", "901"} {
			if ns, _ := lat[id].(float64); ns <= 0 {
				t.Errorf("%s[%q] = %v, want nanoseconds > 0", field, id, lat[id])
			}
		}
		if len(lat) != 2 {
			t.Errorf("%s = %v, want exactly regions 900 and 901", field, lat)
		}
	}
	if methods, _ := rep["RegionLatencyMethod"].(map[string]any); methods["900"] != "STUN" || methods["901"] != "STUN" {
		t.Errorf("RegionLatencyMethod = %v, want STUN for 900 and 901", rep["RegionLatencyMethod"])
	}
	if lat, _ := rep["RegionV6Latency"].(map[string]any); len(lat) != 0 {
		t.Errorf("RegionV6Latency = %v, want empty", rep["RegionV6Latency"])
	}
	best := rep["RegionLatency"].(map[string]any)
	other := map[float64]string{900: "901", 901: "900"}[pref]
	if best[strconv.Itoa(int(pref))].(float64)*1 > best[other].(float64) {
		t.Errorf("PreferredDERP %v is not the region with the lowest latency: %v", pref, best)
	}
}

func TestNetcheckHumanOutput(t *testing.T) {
	stun := startSTUN(t)
	dead := freePort(t, "udp")
	tests := []struct {
		name    string
		regions []string
		want    []string
	}{
		{"named_regions",
			[]string{regionJSON(900, "one", stunOnlyJSON("900a", 900, stun)), regionJSON(901, "two", stunOnlyJSON("901a", 901, dead))},
			[]string{"\nReport:\n", "\t* UDP: true\n", "\t* IPv4: yes, 127.0.0.1:", "\t* Nearest DERP: Region one\n", "\t* DERP latency:\n\t\t- one: ", "(Region one) via STUN\n", "\t\t- two:         (Region two)\n"}},
		{"code_without_name",
			[]string{`"900":{"RegionID":900,"RegionCode":"one","Nodes":[` + stunOnlyJSON("900a", 900, stun) + `]}`},
			[]string{"\t* Nearest DERP: one (region 900)\n", "\t\t- one: ", " (region 900) via STUN\n"}},
		{"neither_code_nor_name",
			[]string{`"900":{"RegionID":900,"Nodes":[` + stunOnlyJSON("900a", 900, stun) + `]}`},
			[]string{"\t* Nearest DERP: region 900\n", "\t\t- 900: ", " (region 900) via STUN\n"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := runCLI(t, "netcheck", "--derp-map", writeProbeMap(t, tc.regions...))
			if code != 0 {
				t.Fatalf("exit %d, stderr %s", code, stderr)
			}
			for _, want := range tc.want {
				if !strings.Contains(stdout, want) {
					t.Errorf("output lacks %q:\n%s", want, stdout)
				}
			}
			if strings.Contains(stdout, "()") || strings.Contains(stdout, "Nearest DERP: \n") {
				t.Errorf("output has an empty region name:\n%s", stdout)
			}
		})
	}
}

func TestPortMappingSummary(t *testing.T) {
	tests := []struct {
		name           string
		upnp, pmp, pcp *bool
		want           string
	}{
		{"not_checked", nil, nil, nil, "not checked"},
		{"none", new(false), new(false), new(false), "none found"},
		{"upnp_pmp", new(true), new(true), new(false), "UPnP, NAT-PMP"},
		{"pcp", new(false), new(false), new(true), "PCP"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := portMappingSummary(&netcheck.Report{UPnP: tc.upnp, PMP: tc.pmp, PCP: tc.pcp}); got != tc.want {
				t.Errorf("portMappingSummary = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestNetcheckFlags(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     netcheckOptions
	}{
		{"text", []string{"--derp-map", "m.json"}, 0, netcheckOptions{DERPMap: "m.json"}},
		{"json_is_format_json", []string{"--derp-map", "m.json", "--json"}, 0, netcheckOptions{DERPMap: "m.json", JSON: true, Format: "json"}},
		{"json_and_format_json", []string{"--derp-map", "m.json", "--json", "--format", "json"}, 0, netcheckOptions{DERPMap: "m.json", JSON: true, Format: "json"}},
		{"json_line_every_verbose", []string{"--derp-map", "m.json", "--format", "json-line", "--every", "30s", "--verbose"}, 0,
			netcheckOptions{DERPMap: "m.json", Format: "json-line", Every: 30 * time.Second, Verbose: true}},
		{"unknown_format", []string{"--derp-map", "m.json", "--format", "yaml"}, 2, netcheckOptions{}},
		{"json_with_json_line", []string{"--derp-map", "m.json", "--json", "--format", "json-line"}, 2, netcheckOptions{}},
		{"negative_every", []string{"--derp-map", "m.json", "--every", "-1s"}, 2, netcheckOptions{}},
		{"no_map", []string{"--json"}, 2, netcheckOptions{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got *netcheckOptions
			c := newNetcheckCmd(IOStreams{Out: io.Discard, ErrOut: io.Discard}, func(o *netcheckOptions) error { got = o; return nil })
			c.SetArgs(tc.args)
			c.SetOut(io.Discard)
			c.SetErr(io.Discard)
			err := c.Execute()
			if code := ExitCode(err); code != tc.wantCode {
				t.Fatalf("exit %d (%v), want %d", code, err, tc.wantCode)
			}
			if tc.wantCode != 0 {
				return
			}
			got.streams = IOStreams{}
			if *got != tc.want {
				t.Errorf("options = %+v, want %+v", *got, tc.want)
			}
		})
	}
}

// lineCounter cancels once it has seen n lines.
type lineCounter struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	n      int
	cancel context.CancelFunc
}

func (l *lineCounter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	if strings.Count(l.buf.String(), "\n") >= l.n {
		l.cancel()
	}
	return len(p), nil
}

// TestNetcheckEveryStreamsJSONLines: --every with --format json-line writes
// one complete report per line until interrupted, and --verbose tells each
// probe on stderr.
func TestNetcheckEveryStreamsJSONLines(t *testing.T) {
	path := writeProbeMap(t, regionJSON(900, "one", stunOnlyJSON("900a", 900, startSTUN(t))))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	out := &lineCounter{n: 3, cancel: cancel}
	var errOut syncbuf.Buffer
	o := &netcheckOptions{DERPMap: path, Format: netcheckFormatJSONLine, Every: 20 * time.Millisecond, Verbose: true,
		streams: IOStreams{Out: out, ErrOut: &errOut}}
	if err := runNetcheck(ctx, o); err != nil {
		t.Fatal(err)
	}
	out.mu.Lock()
	lines := strings.Split(strings.TrimSuffix(out.buf.String(), "\n"), "\n")
	out.mu.Unlock()
	if len(lines) < 3 {
		t.Fatalf("%d lines, want at least 3:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	for i, line := range lines {
		var rep map[string]any
		if err := json.Unmarshal([]byte(line), &rep); err != nil {
			t.Fatalf("line %d is not one JSON report: %v\n%s", i, err, line)
		}
		if rep["UDP"] != true || rep["PreferredDERP"] != float64(900) {
			t.Errorf("line %d: UDP=%v PreferredDERP=%v, want true 900", i, rep["UDP"], rep["PreferredDERP"])
		}
	}
	verbose := errOut.String()
	for _, want := range []string{"STUN    region one/900 127.0.0.1:", ": IPv4, sees us as 127.0.0.1:", "portmap: not checked: no gateway in tests", "captive: not checked"} {
		if !strings.Contains(verbose, want) {
			t.Errorf("--verbose output lacks %q:\n%s", want, verbose)
		}
	}
}
