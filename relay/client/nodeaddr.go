package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/relayctl/relayctl/internal/derpmap"
)

// ErrNoFamilyAddress means a node has no address of the wanted family: a
// probe of it over that family is skipped, not failed.
var ErrNoFamilyAddress = errors.New("no address of this family")

// NodeFamilyAddr is the address to reach n at over one family: the forced
// IPv4/IPv6 field, else HostName when it is an IP, else the first address
// of that family HostName resolves to (r nil: net.DefaultResolver).
// STUNTestIP, a test hook of Tailscale's map, wins when it is of the
// family.
func NodeFamilyAddr(ctx context.Context, r *net.Resolver, n *derpmap.DERPNode, want6 bool) (netip.Addr, error) {
	if a, err := netip.ParseAddr(n.STUNTestIP); err == nil && a.Unmap().Is4() != want6 {
		return a.Unmap(), nil
	}
	if r == nil {
		r = net.DefaultResolver
	}
	fa := n.V4()
	network := "ip4"
	if want6 {
		fa, network = n.V6(), "ip6"
	}
	switch {
	case fa.Disabled:
		return netip.Addr{}, ErrNoFamilyAddress
	case fa.Addr.IsValid():
		return fa.Addr, nil
	}
	if a, err := netip.ParseAddr(n.HostName); err == nil {
		if a.Unmap().Is4() != want6 {
			return a.Unmap(), nil
		}
		return netip.Addr{}, ErrNoFamilyAddress
	}
	addrs, err := r.LookupNetIP(ctx, network, n.HostName)
	if err != nil {
		var dnsErr *net.DNSError
		if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
			return netip.Addr{}, ErrNoFamilyAddress
		}
		return netip.Addr{}, fmt.Errorf("resolve %s: %w", n.HostName, err)
	}
	if len(addrs) == 0 {
		return netip.Addr{}, ErrNoFamilyAddress
	}
	return addrs[0].Unmap(), nil
}
