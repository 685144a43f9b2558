package client

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/relayctl/relayctl/internal/derpmap"
)

// TestNodeFamilyAddr: the map's fields decide without DNS where they can;
// a name is resolved, and a resolver failure is an error, not a skip.
func TestNodeFamilyAddr(t *testing.T) {
	noDNS := &net.Resolver{PreferGo: true, Dial: func(context.Context, string, string) (net.Conn, error) {
		return nil, errors.New("no DNS in this test")
	}}
	tests := []struct {
		name    string
		node    derpmap.DERPNode
		want6   bool
		want    string // "" with wantErr
		wantErr string // "skip" for ErrNoFamilyAddress
	}{
		{"stun_test_ip_wins", derpmap.DERPNode{HostName: "derp.invalid", IPv4: "192.0.2.1", STUNTestIP: "192.0.2.9"}, false, "192.0.2.9", ""},
		{"stun_test_ip_other_family", derpmap.DERPNode{HostName: "derp.invalid", IPv6: "2001:db8::1", STUNTestIP: "192.0.2.9"}, true, "2001:db8::1", ""},
		{"forced_v4", derpmap.DERPNode{HostName: "derp.invalid", IPv4: "192.0.2.1"}, false, "192.0.2.1", ""},
		{"forced_v6", derpmap.DERPNode{HostName: "derp.invalid", IPv6: "2001:db8::1"}, true, "2001:db8::1", ""},
		{"none_skips", derpmap.DERPNode{HostName: "derp.invalid", IPv6: "none"}, true, "", "skip"},
		{"ip_host", derpmap.DERPNode{HostName: "198.51.100.7"}, false, "198.51.100.7", ""},
		{"ip_host_other_family_skips", derpmap.DERPNode{HostName: "198.51.100.7"}, true, "", "skip"},
		{"name_resolver_fails", derpmap.DERPNode{HostName: "derp.invalid"}, false, "", "resolve derp.invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NodeFamilyAddr(t.Context(), noDNS, &tt.node, tt.want6)
			switch {
			case tt.wantErr == "skip":
				if !errors.Is(err, ErrNoFamilyAddress) {
					t.Fatalf("got %v, %v; want ErrNoFamilyAddress", got, err)
				}
			case tt.wantErr != "":
				if err == nil || errors.Is(err, ErrNoFamilyAddress) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, %v; want an error containing %q", got, err, tt.wantErr)
				}
			case err != nil || got != netip.MustParseAddr(tt.want):
				t.Fatalf("got %v, %v; want %s", got, err, tt.want)
			}
		})
	}
}

// TestNodeDialerPlainDefaultPort: over plain HTTP a node without DERPPort
// is dialed on 3340, as Tailscale's client does, whatever port the URL
// (which leaves it out) implies.
func TestNodeDialerPlainDefaultPort(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:3340")
	if err != nil {
		t.Skipf("port 3340 is busy on this host: %v", err)
	}
	defer ln.Close()
	accepted := make(chan struct{})
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Close()
			close(accepted)
		}
	}()
	n := &derpmap.DERPNode{HostName: "derp.invalid", IPv4: "127.0.0.1"}
	c, err := NodeDialer(n, true)(t.Context(), "tcp", "derp.invalid:80")
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	c.Close()
	<-accepted
}
