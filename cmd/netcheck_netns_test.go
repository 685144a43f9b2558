package cmd

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/relayctl/relayctl/internal/netnslab"
)

// The namespace tests run netcheck behind a NAT gateway built from network
// namespaces (internal/netnslab). netcheck and the relay are this test
// binary re-executed inside their namespace (TestNetcheckNetnsHelper).

// netnsHelperEnv, when set, holds the JSON argument list the re-executed
// test binary runs relayctl with.
const netnsHelperEnv = "RELAYCTL_NETNS_HELPER_ARGS"

// TestNetcheckNetnsHelper is not a test: it is relayctl, run inside a
// namespace by the tests below.
func TestNetcheckNetnsHelper(t *testing.T) {
	raw := os.Getenv(netnsHelperEnv)
	if raw == "" {
		t.Skip("helper process for the namespace tests")
	}
	var args []string
	if err := json.Unmarshal([]byte(raw), &args); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	netcheckGateway = nil // the real default route, inside the namespace
	os.Exit(Execute(args, SystemStreams()))
}

// relayctlIn is relayctl args run inside ns.
func relayctlIn(lab *netnslab.Lab, ns string, env []string, args ...string) *exec.Cmd {
	raw, _ := json.Marshal(args)
	cmd := lab.Command(ns, os.Args[0], "-test.run=^TestNetcheckNetnsHelper$")
	cmd.Env = append(append(os.Environ(), netnsHelperEnv+"="+string(raw)), env...)
	return cmd
}

// startLab runs relayctl serve in the relay namespace and the gateway's
// services, and returns the lab's DERP map file.
func startLab(t *testing.T, lab *netnslab.Lab) string {
	dir := t.TempDir()
	return lab.StartServices(relayctlIn(lab, lab.Relay, nil, netnslab.RelayServeArgs(dir)...), dir)
}

// labNetcheck runs relayctl netcheck in the client namespace.
func labNetcheck(t *testing.T, lab *netnslab.Lab, mapPath string, args ...string) (stdout, stderr string) {
	t.Helper()
	cmd := relayctlIn(lab, lab.Client, []string{"TS_DEBUG_USE_DERP_HTTP=1"}, append([]string{"netcheck", "--derp-map", mapPath}, args...)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("netcheck %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out.String(), errOut.String())
	}
	return out.String(), errOut.String()
}

// labReport is the part of the JSON report the faults change.
type labReport struct {
	UDP, IPv4, ICMPv4     bool
	GlobalV4              string
	UPnP, PMP, PCP        *bool
	MappingVariesByDestIP *bool
	CaptivePortal         *bool
	PreferredDERP         int
	RegionLatency         map[string]int64
	RegionLatencyMethod   map[string]string
}

// TestNetcheckNamespaces puts netcheck behind a NAT gateway and breaks the
// path one way at a time; each fault shows in the report field it should.
func TestNetcheckNamespaces(t *testing.T) {
	lab := netnslab.New(t)
	mapPath := startLab(t, lab)
	// What each netnslab scenario must show.
	checks := map[string]struct {
		check       func(p *problems, r labReport)
		wantVerbose string
	}{
		"open_path": {func(p *problems, r labReport) {
			p.expect("UDP", r.UDP, true)
			if ap, err := netip.ParseAddrPort(r.GlobalV4); err != nil || ap.Addr().String() != netnslab.GatewayUp {
				p.errorf("GlobalV4 = %q, want %s:<port> (the NAT's public side)", r.GlobalV4, netnslab.GatewayUp)
			}
			p.expect("RegionLatencyMethod[900]", r.RegionLatencyMethod["900"], "STUN")
			p.expect("ICMPv4", r.ICMPv4, false)
			// One STUN server cannot tell.
			p.expect("MappingVariesByDestIP", fmtBool(r.MappingVariesByDestIP), "null")
			p.expect("UPnP", fmtBool(r.UPnP), "true")
			p.expect("PMP", fmtBool(r.PMP), "true")
			p.expect("PCP", fmtBool(r.PCP), "true")
			p.expect("CaptivePortal", fmtBool(r.CaptivePortal), "false")
		}, "NAT-PMP: public address " + netnslab.GatewayUp},
		"no_port_mapping": {func(p *problems, r labReport) {
			p.expect("UPnP", fmtBool(r.UPnP), "false")
			p.expect("PMP", fmtBool(r.PMP), "false")
			p.expect("PCP", fmtBool(r.PCP), "false")
			p.expect("UDP", r.UDP, true)
		}, ""},
		"captive_portal": {func(p *problems, r labReport) {
			p.expect("CaptivePortal", fmtBool(r.CaptivePortal), "true")
			p.expect("UDP", r.UDP, true)
		}, "answered 204 with X-Tailscale-Response"},
		"udp_blocked": {func(p *problems, r labReport) {
			p.expect("UDP", r.UDP, false)
			p.expect("ICMPv4", r.ICMPv4, true)
			p.expect("GlobalV4", r.GlobalV4, "")
			p.expect("PreferredDERP", r.PreferredDERP, 900)
			// ICMP and HTTPS both measured; the lower one stands.
			if m := r.RegionLatencyMethod["900"]; m != "ICMP" && m != "HTTPS" {
				p.errorf("RegionLatencyMethod[900] = %q, want ICMP or HTTPS", m)
			}
		}, "echo reply over a raw socket"},
		"only_icmp_gets_through": {func(p *problems, r labReport) {
			p.expect("UDP", r.UDP, false)
			p.expect("ICMPv4", r.ICMPv4, true)
			p.expect("RegionLatencyMethod[900]", r.RegionLatencyMethod["900"], "ICMP")
			p.expect("CaptivePortal", fmtBool(r.CaptivePortal), "null")
		}, "echo reply over a datagram socket"},
		"udp_and_icmp_blocked": {func(p *problems, r labReport) {
			p.expect("UDP", r.UDP, false)
			p.expect("ICMPv4", r.ICMPv4, false)
			p.expect("IPv4", r.IPv4, true)
			p.expect("RegionLatencyMethod[900]", r.RegionLatencyMethod["900"], "HTTPS")
			p.expect("PreferredDERP", r.PreferredDERP, 900)
		}, ""},
	}
	for _, sc := range netnslab.Scenarios {
		t.Run(sc.Name, func(t *testing.T) {
			c, ok := checks[sc.Name]
			if !ok {
				t.Fatalf("no checks for scenario %s", sc.Name)
			}
			lab.Apply(sc)
			netnslab.Retry(t, func() ([]string, string) {
				stdout, stderr := labNetcheck(t, lab, mapPath, "--json", "--verbose")
				var r labReport
				if err := json.Unmarshal([]byte(stdout), &r); err != nil {
					t.Fatalf("report is not JSON: %v\n%s", err, stdout)
				}
				var p problems
				c.check(&p, r)
				if c.wantVerbose != "" && !strings.Contains(stderr, c.wantVerbose) {
					p.errorf("--verbose lacks %q", c.wantVerbose)
				}
				return p, "report:\n" + stdout + "\nverbose:\n" + stderr
			})
		})
	}
	t.Run("text_report", func(t *testing.T) {
		lab.Apply(netnslab.Scenarios[0])
		netnslab.Retry(t, func() ([]string, string) {
			stdout, _ := labNetcheck(t, lab, mapPath)
			var p problems
			for _, want := range []string{
				"\t* UDP: true\n", "\t* IPv4: yes, " + netnslab.GatewayUp + ":", "\t* PortMapping: UPnP, NAT-PMP, PCP\n",
				"\t* CaptivePortal: false\n", "\t* Nearest DERP: Namespace lab\n", "(Namespace lab) via STUN\n",
			} {
				if !strings.Contains(stdout, want) {
					p.errorf("text report lacks %q", want)
				}
			}
			return p, stdout
		})
	})
}

// problems collects what a report got wrong.
type problems []string

func (p *problems) errorf(format string, args ...any) { *p = append(*p, fmt.Sprintf(format, args...)) }

func (p *problems) expect(field string, got, want any) {
	if got != want {
		p.errorf("%s = %v, want %v", field, got, want)
	}
}

func fmtBool(b *bool) string {
	if b == nil {
		return "null"
	}
	return strconv.FormatBool(*b)
}
