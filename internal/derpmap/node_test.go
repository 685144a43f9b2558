package derpmap

import (
	"net/netip"
	"testing"
)

// TestNodeEndpoints checks the ports and URL a client uses for a node
// against Tailscale's derphttp client: the dial port defaults to 443, or
// 3340 over plain HTTP (TS_DEBUG_USE_DERP_HTTP), while the URL — and so
// the Host header — carries DERPPort only when it is set and not the
// scheme's own port.
func TestNodeEndpoints(t *testing.T) {
	tests := []struct {
		name     string
		node     DERPNode
		plain    bool
		wantPort int
		wantURL  string
		wantDial string
	}{
		{"tls_default", DERPNode{HostName: "derp.example.net"}, false, 443, "https://derp.example.net/derp", "derp.example.net"},
		{"plain_default_is_3340", DERPNode{HostName: "derp.example.net"}, true, 3340, "http://derp.example.net/derp", "derp.example.net"},
		{"tls_443_explicit", DERPNode{HostName: "derp.example.net", DERPPort: 443}, false, 443, "https://derp.example.net/derp", "derp.example.net"},
		{"tls_other_port", DERPNode{HostName: "derp.example.net", DERPPort: 8443}, false, 8443, "https://derp.example.net:8443/derp", "derp.example.net"},
		{"plain_80_explicit", DERPNode{HostName: "h", DERPPort: 80}, true, 80, "http://h/derp", "h"},
		{"plain_port", DERPNode{HostName: "127.0.0.1", DERPPort: 3340}, true, 3340, "http://127.0.0.1:3340/derp", "127.0.0.1"},
		{"ipv6_host", DERPNode{HostName: "2001:db8::1"}, false, 443, "https://[2001:db8::1]/derp", "2001:db8::1"},
		{"ipv6_host_port", DERPNode{HostName: "2001:db8::1", DERPPort: 8443}, false, 8443, "https://[2001:db8::1]:8443/derp", "2001:db8::1"},
		{"forced_ipv4", DERPNode{HostName: "derp.example.net", IPv4: "192.0.2.1", IPv6: "2001:db8::1"}, false, 443, "https://derp.example.net/derp", "192.0.2.1"},
		{"forced_ipv6_only", DERPNode{HostName: "derp.example.net", IPv4: "none", IPv6: "2001:db8::1"}, false, 443, "https://derp.example.net/derp", "2001:db8::1"},
		{"ipv4_field_holds_ipv6", DERPNode{HostName: "derp.example.net", IPv4: "2001:db8::1"}, false, 443, "https://derp.example.net/derp", "derp.example.net"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.node.DERPPortFor(tt.plain); got != tt.wantPort {
				t.Errorf("DERPPortFor(%v) = %d, want %d", tt.plain, got, tt.wantPort)
			}
			if got := tt.node.URL(tt.plain); got != tt.wantURL {
				t.Errorf("URL(%v) = %q, want %q", tt.plain, got, tt.wantURL)
			}
			if got := tt.node.DialHost(); got != tt.wantDial {
				t.Errorf("DialHost() = %q, want %q", got, tt.wantDial)
			}
		})
	}
}

func TestNodeFamiliesAndSTUNPort(t *testing.T) {
	tests := []struct {
		name           string
		node           DERPNode
		wantV4, wantV6 Family
		wantSTUN       int
	}{
		{"resolve_both", DERPNode{}, Family{}, Family{}, 3478},
		{"none_disables", DERPNode{IPv4: "none", IPv6: "none", STUNPort: -1}, Family{Disabled: true}, Family{Disabled: true}, -1},
		{"mapped_v4_unmapped", DERPNode{IPv4: "::ffff:192.0.2.1", STUNPort: 3479}, Family{Addr: mustAddr("192.0.2.1")}, Family{}, 3479},
		{"wrong_family_disables", DERPNode{IPv4: "2001:db8::1", IPv6: "192.0.2.1"}, Family{Disabled: true}, Family{Disabled: true}, 3478},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.node.V4(); got != tt.wantV4 {
				t.Errorf("V4() = %+v, want %+v", got, tt.wantV4)
			}
			if got := tt.node.V6(); got != tt.wantV6 {
				t.Errorf("V6() = %+v, want %+v", got, tt.wantV6)
			}
			if got := tt.node.STUNPortOrDefault(); got != tt.wantSTUN {
				t.Errorf("STUNPortOrDefault() = %d, want %d", got, tt.wantSTUN)
			}
		})
	}
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

func TestLookupRegion(t *testing.T) {
	m := &DERPMap{Regions: map[int]*DERPRegion{
		900: {RegionID: 900, RegionCode: "fra"},
		901: {RegionID: 901, RegionCode: "900"}, // a code that reads as another region's ID
		902: {RegionID: 902},
	}}
	tests := []struct {
		name   string
		want   int
		wantOK bool
	}{
		{"900", 900, true},
		{" fra ", 900, true},
		{"FRA", 900, true},
		{"902", 902, true},
		{"903", 0, false},
		{"sgp", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		if got, ok := m.LookupRegion(tt.name); got != tt.want || ok != tt.wantOK {
			t.Errorf("LookupRegion(%q) = %d, %v; want %d, %v", tt.name, got, ok, tt.want, tt.wantOK)
		}
	}
}
