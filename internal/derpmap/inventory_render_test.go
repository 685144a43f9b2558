package derpmap

import (
	"reflect"
	"strings"
	"testing"
)

func TestRenderInventoryRoundTrip(t *testing.T) {
	m := testInventoryMap(t)
	m.Regions[901].Latitude, m.Regions[901].Longitude = 1.35, 103.8
	b, err := RenderInventory(m)
	if err != nil {
		t.Fatal(err)
	}
	inv, err := ParseInventory("x.yaml", b)
	if err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	if !reflect.DeepEqual(inv.Map, m) {
		t.Errorf("round trip changed the map:\n%s", b)
	}
	// An IPv6 address must come back as a string, not a YAML oddity.
	if !strings.Contains(string(b), "ipv6: 2001:db8::4") && !strings.Contains(string(b), `ipv6: "2001:db8::4"`) {
		t.Errorf("ipv6 rendering:\n%s", b)
	}
}

func TestRenderInventoryRefusesWhatItCannotSay(t *testing.T) {
	tests := []struct {
		name string
		edit func(*DERPNode)
		want string
	}{
		{"fronting", func(n *DERPNode) { n.CertName = "other.example.net" }, "names another host"},
		{"insecure", func(n *DERPNode) { n.InsecureForTests = true }, "InsecureForTests"},
		{"stun_test_ip", func(n *DERPNode) { n.STUNTestIP = "127.0.0.1" }, "STUNTestIP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := SingleNode{HostName: "192.0.2.1"}.Map()
			tt.edit(m.Regions[900].Nodes[0])
			if _, err := RenderInventory(m); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
}
