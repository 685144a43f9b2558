package cmd

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/relayctl/relayctl/relay/relaytest"
)

// devNode is an in-process relay on loopback serving plain HTTP, as
// `relayctl serve --dev` does, with its STUN port.
type devNode struct {
	derpPort, stunPort int
}

func startDevNode(t *testing.T) devNode {
	t.Helper()
	r := relaytest.Start(t, relaytest.Options{STUN: true})
	return devNode{derpPort: r.Port, stunPort: r.STUNPort}
}

func nodeJSON(name string, region, derpPort, stunPort int) string {
	return fmt.Sprintf(`{"Name":%q,"RegionID":%d,"HostName":"127.0.0.1","IPv4":"127.0.0.1","IPv6":"none","DERPPort":%d,"STUNPort":%d}`, name, region, derpPort, stunPort)
}

func writeProbeMap(t *testing.T, regions ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "derpmap.json")
	doc := `{"Regions":{` + strings.Join(regions, ",") + `}}`
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func regionJSON(id int, code string, nodes ...string) string {
	return fmt.Sprintf(`"%d":{"RegionID":%d,"RegionCode":%q,"RegionName":"Region %s","Nodes":[%s]}`, id, id, code, code, strings.Join(nodes, ","))
}

func TestProbeUsageErrors(t *testing.T) {
	t.Setenv(plainHTTPEnv, "")
	good := writeProbeMap(t, regionJSON(900, "a", nodeJSON("900a", 900, 1, 2)))
	bad := writeProbeMap(t, regionJSON(900, "a", `{"Name":"900a","RegionID":900,"HostName":"","CertName":"sha256-raw:XY"}`))
	insecure := writeProbeMap(t, regionJSON(900, "a", `{"Name":"900a","RegionID":900,"HostName":"derp.example","InsecureForTests":true}`))
	remote := writeProbeMap(t, regionJSON(900, "a", `{"Name":"900a","RegionID":900,"HostName":"10.0.0.2"}`))
	meshKey := filepath.Join(t.TempDir(), "mesh.key")
	if err := os.WriteFile(meshKey, []byte(strings.Repeat("ab", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		env  string
		args []string
		want string
	}{
		{"no_map", "", []string{"probe", "--once"}, "--derp-map is required"},
		{"json_without_once", "", []string{"probe", "--derp-map", good, "--json"}, "--json needs --once"},
		{"bad_map", "", []string{"probe", "--derp-map", bad, "--once"}, `--derp-map: DERP map ` + bad + `: invalid DERP map (2 problems): region 900 node "900a": HostName: empty; region 900 node "900a": CertName`},
		{"missing_map", "", []string{"probe", "--derp-map", "/nonexistent/map.json", "--once"}, "no such file"},
		{"unknown_region", "", []string{"probe", "--derp-map", good, "--once", "--regions", "xyz"}, `--regions: no region "xyz"`},
		{"bad_env", "maybe", []string{"probe", "--derp-map", good, "--once"}, `TS_DEBUG_USE_DERP_HTTP="maybe"`},
		{"mesh_key_without_regions", "", []string{"probe", "--derp-map", good, "--once", "--mesh-psk-file", meshKey}, "--mesh-psk-file needs --mesh-regions"},
		{"mesh_regions_without_key", "", []string{"probe", "--derp-map", good, "--once", "--mesh-regions", "900"}, "--mesh-regions needs --mesh-psk-file"},
		{"mesh_key_http_map", "", []string{"probe", "--derp-map", "http://maps.example/derp.json?token=s3cret", "--once", "--mesh-psk-file", meshKey, "--mesh-regions", "900"}, "--derp-map http://maps.example/derp.json?<redacted>: with --mesh-psk-file the map must be a file or an https:// URL"},
		{"mesh_key_insecure_node", "", []string{"probe", "--derp-map", insecure, "--once", "--mesh-psk-file", meshKey, "--mesh-regions", "900"}, `node 900a: InsecureForTests`},
		{"mesh_key_plain_http_remote", "1", []string{"probe", "--derp-map", remote, "--once", "--mesh-psk-file", meshKey, "--regions", "900"}, `node 900a: plain HTTP`},
		{"mesh_regions_unknown", "", []string{"probe", "--derp-map", good, "--once", "--mesh-psk-file", meshKey, "--mesh-regions", "905"}, `--mesh-regions: no region "905"`},
		{"netcheck_no_map", "", []string{"netcheck"}, "--derp-map is required"},
		{"netcheck_bad_map", "", []string{"netcheck", "--derp-map", bad}, "HostName: empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(plainHTTPEnv, tc.env)
			stdout, stderr, code := runCLI(t, tc.args...)
			if code != 2 || !strings.Contains(stderr, tc.want) || stdout != "" {
				t.Errorf("exit %d, stdout %q, stderr %q; want 2 and a reason containing %q", code, stdout, stderr, tc.want)
			}
		})
	}
}

func TestProbeOnce(t *testing.T) {
	t.Setenv(plainHTTPEnv, "1")
	a, b := startDevNode(t), startDevNode(t)
	healthy := writeProbeMap(t, regionJSON(900, "one", nodeJSON("900a", 900, a.derpPort, a.stunPort)), regionJSON(901, "two", nodeJSON("901a", 901, b.derpPort, b.stunPort)))
	broken := writeProbeMap(t,
		regionJSON(900, "one", nodeJSON("900a", 900, a.derpPort, a.stunPort)),
		regionJSON(902, "gone", nodeJSON("902a", 902, freePort(t, "tcp"), freePort(t, "udp"))))

	t.Run("healthy_table", func(t *testing.T) {
		stdout, stderr, code := runCLI(t, "probe", "--derp-map", healthy, "--once", "--timeout", "3s")
		if code != 0 {
			t.Fatalf("exit %d; stdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
		for _, want := range []string{"Region 900 (one) Region one\nNODE  CHECK  STATUS  LATENCY  DETAIL\n900a  stun4  ok", "Region 901 (two)", "901a  derp   ok", "plain HTTP (TS_DEBUG_USE_DERP_HTTP)", "6 probes: 4 ok, 0 warn, 0 failed, 2 skipped\n"} {
			if !strings.Contains(stdout, want) {
				t.Errorf("stdout lacks %q:\n%s", want, stdout)
			}
		}
		if strings.Contains(stdout, "\x1b[") || strings.Contains(stderr, "\r") {
			t.Errorf("styling or progress written to a pipe:\nstdout %q\nstderr %q", stdout, stderr)
		}
	})
	t.Run("regions_filter", func(t *testing.T) {
		stdout, _, code := runCLI(t, "probe", "--derp-map", healthy, "--once", "--regions", "two")
		if code != 0 || strings.Contains(stdout, "900a") || !strings.Contains(stdout, "901a") {
			t.Errorf("exit %d, stdout:\n%s\nwant only region 901", code, stdout)
		}
	})
	t.Run("broken_json", func(t *testing.T) {
		stdout, stderr, code := runCLI(t, "probe", "--derp-map", broken, "--once", "--json", "--timeout", "1s")
		if code != 1 || !strings.Contains(stderr, "relayctl: 2 of 6 probes failed") {
			t.Fatalf("exit %d, stderr %q; want 1 and the failure count", code, stderr)
		}
		var rep struct {
			OK      bool   `json:"ok"`
			DERPMap string `json:"derp_map"`
			Summary struct{ Total, OK, Fail, Skip int }
			Results []struct {
				Name, Status, Error string
				LatencyNS           int64 `json:"latency_ns"`
			}
		}
		if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
			t.Fatalf("stdout is not one JSON document: %v\n%s", err, stdout)
		}
		if rep.OK || rep.DERPMap != broken || rep.Summary.Total != 6 || rep.Summary.Fail != 2 || rep.Summary.Skip != 2 {
			t.Errorf("report header %+v", rep)
		}
		want := map[string]string{
			"900/900a/stun4": "ok", "900/900a/tls": "skip", "900/900a/derp": "ok",
			"902/902a/stun4": "fail", "902/902a/tls": "skip", "902/902a/derp": "fail",
		}
		for _, r := range rep.Results {
			if want[r.Name] != r.Status {
				t.Errorf("%s: %s, want %s", r.Name, r.Status, want[r.Name])
			}
			if r.Status == "ok" && r.LatencyNS <= 0 {
				t.Errorf("%s: no latency", r.Name)
			}
			if r.Name == "902/902a/derp" && !strings.Contains(r.Error, "connect to 902a") {
				t.Errorf("%s: error %q does not name the node", r.Name, r.Error)
			}
		}
	})
}

// TestProbeListenDefaultsToLoopback: the status page (which names the
// DERP map source and every node) is not served on every interface unless
// asked for.
func TestProbeListenDefaultsToLoopback(t *testing.T) {
	var got *probeOptions
	c := newProbeCmd(IOStreams{In: strings.NewReader(""), Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}}, func(o *probeOptions) error { got = o; return nil })
	c.SetArgs([]string{"--derp-map", "map.json"})
	if err := c.Execute(); err != nil {
		t.Fatal(err)
	}
	if got.Listen != "127.0.0.1:8030" {
		t.Fatalf("--listen defaults to %q, want 127.0.0.1:8030", got.Listen)
	}
}
