package web

import (
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestTrustedProxiesClientAddr(t *testing.T) {
	trusted := TrustedProxies{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	proxy := netip.MustParseAddrPort("10.1.2.3:5555")
	stranger := netip.MustParseAddrPort("203.0.113.9:4444")
	for _, tc := range []struct {
		name   string
		direct netip.AddrPort
		xff    []string
		realIP string
		want   string
	}{
		{"no_headers_from_proxy", proxy, nil, "", "10.1.2.3:5555"},
		{"xff_from_proxy", proxy, []string{"198.51.100.7"}, "", "198.51.100.7:0"},
		{"xff_chain_rightmost_untrusted", proxy, []string{"192.0.2.1, 198.51.100.7, 10.9.9.9"}, "", "198.51.100.7:0"},
		{"xff_split_headers", proxy, []string{"192.0.2.1", "198.51.100.8"}, "", "198.51.100.8:0"},
		{"real_ip_from_proxy", proxy, nil, "198.51.100.9", "198.51.100.9:0"},
		{"xff_from_stranger_ignored", stranger, []string{"198.51.100.7"}, "198.51.100.9", "203.0.113.9:4444"},
		{"garbage_chain_ignored", proxy, []string{"198.51.100.7, not-an-ip"}, "", "10.1.2.3:5555"},
		{"all_hops_trusted", proxy, []string{"10.2.2.2"}, "", "10.1.2.3:5555"},
		{"mapped_v4_unmapped", proxy, []string{"::ffff:198.51.100.7"}, "", "198.51.100.7:0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/derp", nil)
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if tc.realIP != "" {
				r.Header.Set("X-Real-IP", tc.realIP)
			}
			if got := trusted.ClientAddr(r, tc.direct).String(); got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
	if got := (TrustedProxies(nil)).ClientAddr(httptest.NewRequest("GET", "/", nil), proxy); got != proxy {
		t.Fatalf("no trusted proxies: got %v", got)
	}
}
