package derpmap

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const formatTestPin = "sha256-raw:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// The same two-node map in every format Load accepts.
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

func TestLoadEveryFormat(t *testing.T) {
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

func TestLoadFormatErrors(t *testing.T) {
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

// roundTripFunc is an http.RoundTripper from a function.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestLoadTimeout: a fetch has a deadline of its own only when Timeout
// is set; 0 leaves it to ctx.
func TestLoadTimeout(t *testing.T) {
	tests := []struct {
		name         string
		opts         LoadOptions
		wantDeadline time.Duration // 0: none
	}{
		{"zero_is_off", LoadOptions{}, 0},
		{"default", DefaultLoadOptions(), DefaultMapLoadTimeout},
		{"set", LoadOptions{Timeout: time.Minute}, time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var left time.Duration
			tt.opts.HTTPClient = &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
				if d, ok := r.Context().Deadline(); ok {
					left = time.Until(d)
				}
				return &http.Response{StatusCode: http.StatusOK, Body: io.NopCloser(strings.NewReader(goodMapJSON)), Request: r}, nil
			})}
			if _, err := Load(t.Context(), "https://maps.example/derp.json", tt.opts); err != nil {
				t.Fatal(err)
			}
			switch {
			case tt.wantDeadline == 0 && left != 0:
				t.Errorf("the fetch had a deadline %v away, want none", left)
			case tt.wantDeadline != 0 && (left <= tt.wantDeadline-time.Minute/2 || left > tt.wantDeadline):
				t.Errorf("the fetch had a deadline %v away, want about %v", left, tt.wantDeadline)
			}
		})
	}
}
