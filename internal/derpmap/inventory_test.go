package derpmap

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const testPin = "sha256-raw:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

const goodInventory = `# two regions
regions:
  - id: 900
    code: fra
    name: Frankfurt
    score: 0.8
  - id: 901
    code: sgp
    avoid: true
nodes:
  - name: fra1
    region: fra
    hostname: derp1.example.net
    cert: public-ca
  - name: fra2
    region: 900
    hostname: 203.0.113.11
    ipv4: 203.0.113.11
    ipv6: none
    derp-port: 8443
    stun-port: 3479
    cert: ` + testPin + `
  - name: sgp1
    region: sgp
    hostname: 198.51.100.4
    ipv6: "2001:db8::4"
    stun-port: -1
    cert: pin
`

func TestParseInventoryBuildsMap(t *testing.T) {
	inv, err := ParseInventory("fleet.yaml", []byte(goodInventory))
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Warnings) != 0 {
		t.Errorf("warnings %q, want none", inv.Warnings)
	}
	got, err := json.Marshal(inv.Map)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"HomeParams":{"RegionScore":{"900":0.8}},"Regions":{` +
		`"900":{"RegionID":900,"RegionCode":"fra","RegionName":"Frankfurt","Nodes":[` +
		`{"Name":"fra1","RegionID":900,"HostName":"derp1.example.net"},` +
		`{"Name":"fra2","RegionID":900,"HostName":"203.0.113.11","CertName":"` + testPin + `","IPv4":"203.0.113.11","IPv6":"none","STUNPort":3479,"DERPPort":8443}]},` +
		`"901":{"RegionID":901,"RegionCode":"sgp","RegionName":"sgp","Avoid":true,"Nodes":[` +
		`{"Name":"sgp1","RegionID":901,"HostName":"198.51.100.4","IPv6":"2001:db8::4","STUNPort":-1}]}}}`
	if string(got) != want {
		t.Errorf("map\n got  %s\n want %s", got, want)
	}
	wantTrust := []Trust{TrustPublicCA, TrustPin, TrustPending}
	wantLines := []int{11, 15, 23}
	for i, n := range inv.Nodes {
		if n.Trust != wantTrust[i] || n.Line != wantLines[i] {
			t.Errorf("node %s: trust %v line %d, want %v line %d", n.Node.Name, n.Trust, n.Line, wantTrust[i], wantLines[i])
		}
	}
	if _, err := inv.DERPMap(); !errors.Is(err, ErrPendingPin) || !strings.Contains(err.Error(), `fleet.yaml:23: node "sgp1"`) {
		t.Errorf("DERPMap with a pending pin: %v, want ErrPendingPin naming fleet.yaml:23", err)
	}
}

func TestParseInventoryCertFile(t *testing.T) {
	dir := t.TempDir()
	// A real certificate is not needed: the pin is over the DER bytes.
	pemText := "-----BEGIN CERTIFICATE-----\nAQID\n-----END CERTIFICATE-----\n"
	if err := os.WriteFile(filepath.Join(dir, "n.crt"), []byte(pemText), 0o600); err != nil {
		t.Fatal(err)
	}
	doc := "regions: [{id: 900, code: a}]\nnodes: [{name: a1, region: a, hostname: 192.0.2.1, cert: 'file:n.crt'}]\n"
	inv, err := ParseInventory(filepath.Join(dir, "fleet.yaml"), []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	const want = "sha256-raw:039058c6f2c0cb492c533b0a4d14ef77cc0f78abccced5287d84a1a2011cfb81" // sha256 of 01 02 03
	if n := inv.Nodes[0]; n.Trust != TrustFile || n.Node.CertName != want || n.CertFile != filepath.Join(dir, "n.crt") {
		t.Errorf("node %+v %+v, want TrustFile with pin %s", n, n.Node, want)
	}
}

func TestParseInventoryProblems(t *testing.T) {
	const head = "regions:\n  - id: 900\n    code: fra\nnodes:\n"
	node := func(extra string) string {
		return head + "  - name: fra1\n    region: fra\n    hostname: derp.example.net\n" + extra
	}
	tests := []struct {
		name string
		doc  string
		want []string // substrings of the error, in order
	}{
		{"not_yaml", "regions: [", []string{"fleet.yaml: YAML:"}},
		{"empty", "", []string{"fleet.yaml: empty document"}},
		{"unknown_top_key", head + "  - {name: a, region: fra, hostname: h}\nregion: 1\n", []string{`fleet.yaml:6: inventory: unknown key "region"`}},
		{"no_nodes", "regions:\n  - {id: 900, code: a}\n", []string{"nodes: want a non-empty list"}},
		{"region_without_nodes", node("") + "", nil},
		{"region_id_range", "regions:\n  - {id: 0, code: a}\nnodes: [{name: n, region: a, hostname: h}]\n", []string{"fleet.yaml:2: region 0: id out of range", `region "a" is not in regions`}},
		{"region_id_dup", "regions:\n  - {id: 900, code: a}\n  - {id: 900, code: b}\nnodes: [{name: n, region: a, hostname: h}]\n", []string{"fleet.yaml:3: region 900: id also used on line 2"}},
		{"region_code_dup", "regions:\n  - {id: 900, code: a}\n  - {id: 901, code: a}\nnodes: [{name: n, region: a, hostname: h}]\n", []string{`fleet.yaml:3: region 901: code "a" also used on line 2`, "fleet.yaml:3: region 901 (a): no node names it"}},
		{"region_unused", "regions:\n  - {id: 900, code: a}\n  - {id: 901, code: b}\nnodes: [{name: n, region: a, hostname: h}]\n", []string{"fleet.yaml:3: region 901 (b): no node names it"}},
		{"region_bad_score", "regions:\n  - {id: 900, code: a, score: 0}\nnodes: [{name: n, region: a, hostname: h}]\n", []string{"fleet.yaml:2: region 900: score 0: want a positive factor"}},
		{"region_numeric_code", "regions:\n  - {id: 900, code: '901'}\nnodes: [{name: n, region: 900, hostname: h}]\n", []string{"confused with region IDs"}},
		{"unknown_node_key", node("    derp_port: 1\n"), []string{`fleet.yaml:8: node: unknown key "derp_port"`}},
		{"dup_node_name", node("  - name: fra1\n    region: fra\n    hostname: h2\n"), []string{`fleet.yaml:8: node "fra1": name also used on line 5`}},
		{"unknown_region", head + "  - {name: a, region: ams, hostname: h}\n", []string{`fleet.yaml:5: node "a": region "ams" is not in regions (known: fra (900))`, "region 900 (fra): no node names it"}},
		{"bad_hostname", head + "  - {name: a, region: fra, hostname: 'https://h:443/'}\n", []string{`hostname "https://h:443/": want a DNS name or an IP address`}},
		{"ipv4_not_ip", node("    ipv4: 1.2.3\n"), []string{`fleet.yaml:8: node "fra1": ipv4 "1.2.3": not an IPv4 address`}},
		{"ipv4_is_v6", node("    ipv4: '2001:db8::1'\n"), []string{`ipv4 "2001:db8::1": not an IPv4 address`}},
		{"ipv6_is_v4", node("    ipv6: 192.0.2.1\n"), []string{`ipv6 "192.0.2.1": not an IPv6 address`}},
		{"ipv4_unspecified", node("    ipv4: 0.0.0.0\n"), []string{`ipv4 "0.0.0.0": the unspecified address`}},
		{"ipv6_unspecified", node("    ipv6: '::'\n"), []string{`ipv6 "::": the unspecified address`}},
		{"derp_port_range", node("    derp-port: 70000\n"), []string{`fleet.yaml:8: node "fra1": derp-port 70000: want 1-65535`}},
		{"derp_port_text", node("    derp-port: https\n"), []string{`derp-port: "https" is not an integer`}},
		{"stun_port_zero", node("    stun-port: 0\n"), []string{"stun-port 0: want 1-65535, or -1"}},
		{"stun_only_no_stun", node("    stun-port: -1\n    stun-only: true\n"), []string{"stun-only with stun-port -1"}},
		{"stun_only_pinned", node("    stun-only: true\n    cert: pin\n"), []string{`fleet.yaml:9: node "fra1": cert on a stun-only node`}},
		{"can_port_80_no_ipv4", node("    can-port-80: true\n"), []string{"can-port-80 needs an ipv4 address"}},
		{"pin_upper_case", node("    cert: sha256-raw:" + strings.Repeat("AB", 32) + "\n"), []string{"fleet.yaml:8:", "64 lowercase hex digits"}},
		{"pin_short", node("    cert: sha256-raw:abcd\n"), []string{"64 lowercase hex digits"}},
		{"cert_unknown", node("    cert: letsencrypt\n"), []string{`cert "letsencrypt": want public-ca, pin`}},
		{"cert_file_missing", node("    cert: file:/nonexistent/x.crt\n"), []string{"fleet.yaml:8:", "/nonexistent/x.crt"}},
		{"key_twice", node("    hostname: again\n"), []string{`fleet.yaml:8: node: key "hostname" given twice`}},
		{"node_not_mapping", head + "  - fra1\n", []string{"fleet.yaml:5: node: want a mapping"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseInventory("fleet.yaml", []byte(tt.doc))
			if tt.want == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			var ie *InventoryError
			if !errors.As(err, &ie) {
				t.Fatalf("error %v (%T), want *InventoryError", err, err)
			}
			msg := err.Error()
			for _, w := range tt.want {
				i := strings.Index(msg, w)
				if i < 0 {
					t.Fatalf("error %q lacks %q", msg, w)
				}
				msg = msg[i+len(w):]
			}
		})
	}
}

func TestParseInventoryWarnsOutsideSelfHostedRange(t *testing.T) {
	inv, err := ParseInventory("fleet.yaml", []byte("regions:\n  - {id: 1, code: a}\nnodes: [{name: n, region: a, hostname: h}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Warnings) != 1 || !strings.HasPrefix(inv.Warnings[0], "fleet.yaml:2: region 1: outside 900-999") {
		t.Errorf("warnings %q, want one for line 2", inv.Warnings)
	}
}
