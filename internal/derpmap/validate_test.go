package derpmap

import (
	"encoding/json"
	"errors"
	"github.com/relayctl/relayctl/internal/certs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const goodMapJSON = `{"Regions":{"900":{"RegionID":900,"RegionCode":"home","RegionName":"Home","Nodes":[
 {"Name":"900a","RegionID":900,"HostName":"derp.example.net","IPv4":"192.0.2.1","IPv6":"none","CertName":"sha256-raw:340bc648c42c09e0602394c341feab546e2ccb1e0c168bbe27b8e05b978e20ac"}]}}}`

func TestValidateNamesRegionNodeAndField(t *testing.T) {
	node := func(mut func(n map[string]any)) string {
		n := map[string]any{"Name": "900a", "RegionID": 900, "HostName": "derp.example.net"}
		mut(n)
		return mustJSON(t, map[string]any{"Regions": map[string]any{"900": map[string]any{"RegionID": 900, "Nodes": []any{n}}}})
	}
	tests := []struct {
		name string
		json string
		want string
	}{
		{"no_regions", `{"Regions":{}}`, "Regions: no regions"},
		{"region_id_mismatch", `{"Regions":{"900":{"RegionID":901,"Nodes":[{"Name":"a","RegionID":900,"HostName":"h"}]}}}`, `region 900: RegionID: 901 does not match the map key "900"`},
		{"region_id_zero", `{"Regions":{"0":{"RegionID":0,"Nodes":[{"Name":"a","RegionID":0,"HostName":"h"}]}}}`, "region ID 0 out of range"},
		{"no_nodes", `{"Regions":{"900":{"RegionID":900,"Nodes":[]}}}`, "region 900: Nodes: region has no nodes"},
		{"null_node", `{"Regions":{"900":{"RegionID":900,"Nodes":[null]}}}`, "region 900 Nodes[0]: null node"},
		{"empty_name", node(func(n map[string]any) { n["Name"] = "" }), "region 900 Nodes[0]: Name: empty"},
		{"empty_hostname", node(func(n map[string]any) { n["HostName"] = "" }), `region 900 node "900a": HostName: empty`},
		{"url_hostname", node(func(n map[string]any) { n["HostName"] = "https://derp.example.net/" }), `node "900a": HostName: "https://derp.example.net/" is not a host name`},
		{"node_region_mismatch", node(func(n map[string]any) { n["RegionID"] = 7 }), `node "900a": RegionID: 7, but the node is in region 900`},
		{"v6_in_ipv4", node(func(n map[string]any) { n["IPv4"] = "2001:db8::1" }), `node "900a": IPv4: "2001:db8::1" is not an IPv4 address`},
		{"v4_in_ipv6", node(func(n map[string]any) { n["IPv6"] = "192.0.2.1" }), `node "900a": IPv6: "192.0.2.1" is not an IPv6 address`},
		{"stun_port", node(func(n map[string]any) { n["STUNPort"] = 70000 }), `node "900a": STUNPort: 70000`},
		{"derp_port", node(func(n map[string]any) { n["DERPPort"] = -5 }), `node "900a": DERPPort: -5`},
		{"pin_uppercase", node(func(n map[string]any) { n["CertName"] = "sha256-raw:" + strings.Repeat("AB", 32) }), `node "900a": CertName: "sha256-raw:ABAB`},
		{"pin_short", node(func(n map[string]any) { n["CertName"] = "sha256-raw:abcd" }), `CertName: "sha256-raw:abcd": a sha256-raw pin is 64 lowercase hex digits`},
		{"port80_without_ipv4", node(func(n map[string]any) { n["CanPort80"] = true }), `node "900a": CanPort80: set, but IPv4 holds no address`},
		{"score_unknown_region", `{"HomeParams":{"RegionScore":{"5":2}},"Regions":{"900":{"RegionID":900,"Nodes":[{"Name":"a","RegionID":900,"HostName":"h"}]}}}`, "HomeParams.RegionScore: score for region 5"},
		{"bad_json", `{"Regions":`, "decode JSON"},
		{"region_key_not_number", `{"Regions":{"abc":{}}}`, "decode JSON"},
		{"two_documents", `{"Regions":{}} {}`, "more than one document"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.json))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestValidateDuplicateNodeNames(t *testing.T) {
	_, err := Parse([]byte(`{"Regions":{
		"900":{"RegionID":900,"Nodes":[{"Name":"x","RegionID":900,"HostName":"a"}]},
		"901":{"RegionID":901,"Nodes":[{"Name":"x","RegionID":901,"HostName":"b"},{"Name":"","RegionID":901,"HostName":""}]}}}`))
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error %v, want a *ValidationError", err)
	}
	want := []string{
		`region 901 node "x": Name: duplicate: also used in region 900`,
		`region 901 Nodes[1]: Name: empty (node names must be unique across the map)`,
		`region 901 Nodes[1]: HostName: empty`,
	}
	if len(ve.Problems) != len(want) {
		t.Fatalf("problems %v, want %d", ve.Problems, len(want))
	}
	for i, w := range want {
		if got := ve.Problems[i].String(); got != w {
			t.Errorf("problem %d = %q, want %q", i, got, w)
		}
	}
}

func TestLoadSources(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "map.json")
	if err := os.WriteFile(path, []byte(goodMapJSON), 0o644); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.json")
	if err := os.WriteFile(big, []byte(strings.Repeat(" ", MaxMapSize+1)), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/map":
			w.Write([]byte(goodMapJSON))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	tests := []struct {
		name, src, wantErr string
	}{
		{"path", path, ""},
		{"file_url", "file://" + path, ""},
		{"http_url", srv.URL + "/map", ""},
		{"http_404", srv.URL + "/missing", "404"},
		{"missing_file", filepath.Join(dir, "nope.json"), "no such file"},
		{"too_big", big, "larger than 4194304 bytes"},
		{"file_url_with_host", "file://example.com/x.json", "want file:///absolute/path"},
		{"unsupported_scheme", "ftp://example.com/x.json", "unsupported scheme"},
		{"empty", "", "no DERP map source"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Load(t.Context(), tc.src, LoadOptions{})
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				n := m.Regions[900].Nodes[0]
				if n.Name != "900a" || n.IPv4 != "192.0.2.1" || !strings.HasPrefix(n.CertName, certs.PinPrefix) {
					t.Errorf("decoded node %+v", n)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
