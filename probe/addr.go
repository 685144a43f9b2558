package probe

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
)

// errNoAddress means the node has no address of the wanted family: the
// probe is skipped, not failed.
var errNoAddress = errors.New("no address of this family")

// familyTarget is the address to probe n at over one family: the forced
// IPv4/IPv6 field, else the first address of that family HostName resolves
// to. STUNTestIP, a test hook of Tailscale's map, wins when it is of the
// family.
func (p *Prober) familyTarget(ctx context.Context, n *DERPNode, want6 bool) (netip.Addr, error) {
	if a, err := netip.ParseAddr(n.STUNTestIP); err == nil && a.Unmap().Is4() != want6 {
		return a.Unmap(), nil
	}
	fa := n.v4()
	network := "ip4"
	if want6 {
		fa, network = n.v6(), "ip6"
	}
	switch {
	case fa.disabled:
		return netip.Addr{}, errNoAddress
	case fa.addr.IsValid():
		return fa.addr, nil
	}
	if a, err := netip.ParseAddr(n.HostName); err == nil {
		if a.Unmap().Is4() != want6 {
			return a.Unmap(), nil
		}
		return netip.Addr{}, errNoAddress
	}
	addrs, err := p.cfg.Resolver.LookupNetIP(ctx, network, n.HostName)
	if err != nil {
		var dnsErr *net.DNSError
		if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
			return netip.Addr{}, errNoAddress
		}
		return netip.Addr{}, fmt.Errorf("resolve %s: %w", n.HostName, err)
	}
	if len(addrs) == 0 {
		return netip.Addr{}, errNoAddress
	}
	return addrs[0].Unmap(), nil
}

// dialHost is the host part of the TCP address for n: the forced IPv4,
// else the forced IPv6, else HostName for DNS.
func dialHost(n *DERPNode) string {
	if a := n.v4().addr; a.IsValid() {
		return a.String()
	}
	if a := n.v6().addr; a.IsValid() {
		return a.String()
	}
	return n.HostName
}

// nodeDialer dials n's forced address (or HostName) whatever address the
// caller asks for, keeping only the port; DERP URLs name HostName for the
// Host header and SNI, but the map may say where to connect.
func nodeDialer(n *DERPNode) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		_, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		var d net.Dialer
		return d.DialContext(ctx, network, net.JoinHostPort(dialHost(n), port))
	}
}

// derpURL is the URL a client dials for n's DERP endpoint.
func (p *Prober) derpURL(n *DERPNode) string {
	scheme := "https"
	if p.cfg.PlainHTTP {
		scheme = "http"
	}
	return scheme + "://" + net.JoinHostPort(n.HostName, strconv.Itoa(n.DERPPortFor(p.cfg.PlainHTTP))) + "/derp"
}
