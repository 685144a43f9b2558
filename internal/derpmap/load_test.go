package derpmap

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const formatTestPin = "sha256-raw:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// The same two-node map in every format LoadDERPMap accepts.
var mapFormats = map[string]string{
	"derpmap.json": `{"Regions": {"900": {"RegionID": 900, "RegionCode": "fra", "RegionName": "fra", "Nodes": [
		{"Name": "fra1", "RegionID": 900, "HostName": "127.0.0.1", "CertName": "` + formatTestPin + `", "DERPPort": 8443},
		{"Name": "fra2", "RegionID": 900, "HostName": "derp2.example.net"}]}}}`,
	"fleet.yaml": `# inventory
regions:
  - {id: 900, code: fra}
nodes:
  - {name: fra1, region: fra, hostname: 127.0.0.1, derp-port: 8443, cert: ` + formatTestPin + `}
  - {name: fra2, region: fra, hostname: derp2.example.net}
`,
	"policy.hujson": `// tailnet policy
{
	"acls": [], // none
	"derpMap": {
		"OmitDefaultRegions": true,
		"Regions": {"900": {"RegionID": 900, "RegionCode": "fra", "RegionName": "fra", "Nodes": [
			{"Name": "fra1", "RegionID": 900, "HostName": "127.0.0.1", "CertName": "` + formatTestPin + `", "DERPPort": 8443},
			{"Name": "fra2", "RegionID": 900, "HostName": "derp2.example.net"},
		]}},
	},
}`,
	"derp.yaml": `regions:
  900:
    regionid: 900
    regioncode: fra
    regionname: fra
    nodes:
      - name: fra1
        regionid: 900
        hostname: 127.0.0.1
        certname: ` + formatTestPin + `
        derpport: 8443
      - name: fra2
        regionid: 900
        hostname: derp2.example.net
`,
}

func TestLoadDERPMapEveryFormat(t *testing.T) {
	dir := t.TempDir()
	for name, doc := range mapFormats {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name)
			if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
				t.Fatal(err)
			}
			m, err := Load(t.Context(), path, LoadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			r := m.Regions[900]
			if r == nil || len(r.Nodes) != 2 {
				t.Fatalf("map %+v, want region 900 with two nodes", m)
			}
			if n := r.Nodes[0]; n.Name != "fra1" || n.CertName != formatTestPin || n.DERPPort != 8443 || n.RegionID != 900 {
				t.Errorf("first node %+v", n)
			}
			if r.Nodes[1].HostName != "derp2.example.net" {
				t.Errorf("second node %+v", r.Nodes[1])
			}
		})
	}
}

func TestLoadDERPMapFormatErrors(t *testing.T) {
	tests := []struct{ name, doc, want string }{
		{"none_fits", "server_url: https://hs.example\n", "DERP map %s: not a DERP map: want Tailscale's DERPMap JSON"},
		{"policy_without_map", `{"acls": []}`, "DERP map %s: not a DERP map"},
		{"inventory_invalid", "regions: [{id: 900, code: a}]\nnodes: [{name: n, region: b, hostname: h}]\n", `DERP map %s: invalid inventory (2 problems): %s:2: node "n": region "b" is not in regions`},
		{"inventory_pending_pin", "regions: [{id: 900, code: a}]\nnodes: [{name: n, region: a, hostname: h, cert: pin}]\n", "pin not filled in"},
		{"headscale_invalid", "regions:\n  900:\n    regionid: 901\n    nodes: [{name: n, regionid: 901, hostname: h}]\n", "DERP map %s: headscale: invalid DERP map"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "map.txt")
			if err := os.WriteFile(path, []byte(tt.doc), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Load(t.Context(), path, LoadOptions{})
			want := strings.ReplaceAll(tt.want, "%s", path)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("error %v, want %q", err, want)
			}
		})
	}
}
