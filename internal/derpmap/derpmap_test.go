package derpmap

import (
	"encoding/json"
	"net/netip"
	"testing"
)

func TestSingleNodeMap(t *testing.T) {
	tests := []struct {
		name string
		node SingleNode
		want string
	}{
		{
			name: "defaults_ipv4",
			node: SingleNode{HostName: "203.0.113.7", IP: netip.MustParseAddr("203.0.113.7"), CertName: "sha256-raw:ab", STUNPort: 3478, DERPPort: 443},
			want: `{"Regions":{"900":{"RegionID":900,"RegionCode":"custom","RegionName":"203.0.113.7","Nodes":[{"Name":"900a","RegionID":900,"HostName":"203.0.113.7","CertName":"sha256-raw:ab","IPv4":"203.0.113.7","STUNPort":3478,"DERPPort":443}]}}}`,
		},
		{
			name: "named_ipv6",
			node: SingleNode{RegionID: 901, RegionCode: "fra", RegionName: "Frankfurt", NodeName: "fra1", HostName: "derp.example.net", IP: netip.MustParseAddr("2001:db8::1"), DERPPort: 8443, STUNPort: -1},
			want: `{"Regions":{"901":{"RegionID":901,"RegionCode":"fra","RegionName":"Frankfurt","Nodes":[{"Name":"fra1","RegionID":901,"HostName":"derp.example.net","IPv6":"2001:db8::1","STUNPort":-1,"DERPPort":8443}]}}}`,
		},
		{
			name: "mapped_ipv4_is_ipv4",
			node: SingleNode{HostName: "198.51.100.1", IP: netip.MustParseAddr("::ffff:198.51.100.1")},
			want: `{"Regions":{"900":{"RegionID":900,"RegionCode":"custom","RegionName":"198.51.100.1","Nodes":[{"Name":"900a","RegionID":900,"HostName":"198.51.100.1","IPv4":"198.51.100.1"}]}}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := json.Marshal(tt.node.Map())
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

// TestFieldNames checks the keys Tailscale's tailcfg uses, including the
// one lower-case key and the omitempty fields.
func TestFieldNames(t *testing.T) {
	m := &DERPMap{
		HomeParams:         &DERPHomeParams{RegionScore: map[int]float64{901: 1.5}},
		OmitDefaultRegions: true,
		Regions: map[int]*DERPRegion{901: {
			RegionID: 901, Latitude: 1, Longitude: 2, Avoid: true, NoMeasureNoHome: true,
			Nodes: []*DERPNode{{STUNOnly: true, InsecureForTests: true, STUNTestIP: "127.0.0.1", CanPort80: true}},
		}},
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var generic map[string]any
	if err := json.Unmarshal(b, &generic); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"HomeParams", "Regions", "omitDefaultRegions"} {
		if _, ok := generic[k]; !ok {
			t.Errorf("DERPMap JSON %s lacks key %q", b, k)
		}
	}
	region := generic["Regions"].(map[string]any)["901"].(map[string]any)
	for _, k := range []string{"RegionID", "RegionCode", "RegionName", "Latitude", "Longitude", "Avoid", "NoMeasureNoHome", "Nodes"} {
		if _, ok := region[k]; !ok {
			t.Errorf("DERPRegion JSON lacks key %q", k)
		}
	}
	node := region["Nodes"].([]any)[0].(map[string]any)
	for _, k := range []string{"Name", "RegionID", "HostName", "STUNOnly", "InsecureForTests", "STUNTestIP", "CanPort80"} {
		if _, ok := node[k]; !ok {
			t.Errorf("DERPNode JSON lacks key %q", k)
		}
	}
	for _, k := range []string{"CertName", "IPv4", "IPv6", "STUNPort", "DERPPort"} {
		if _, ok := node[k]; ok {
			t.Errorf("DERPNode JSON has empty key %q, want it omitted", k)
		}
	}
}

func TestRenderEndsWithNewline(t *testing.T) {
	b, err := Render(SingleNode{HostName: "127.0.0.1"}.Map())
	if err != nil {
		t.Fatal(err)
	}
	if len(b) == 0 || b[len(b)-1] != '\n' {
		t.Fatalf("Render = %q, want a final newline", b)
	}
	var back DERPMap
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Regions[900].Nodes[0].HostName != "127.0.0.1" {
		t.Fatalf("round trip lost the node: %s", b)
	}
}
