package probe

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/relayctl/relayctl/internal/derpmap"
)

// errNoAddress means the node has no address of the wanted family: the
// probe is skipped, not failed.
var errNoAddress = errors.New("no address of this family")

// familyTarget is the address to probe n at over one family: the forced
// IPv4/IPv6 field, else the first address of that family HostName resolves
// to. STUNTestIP, a test hook of Tailscale's map, wins when it is of the
// family.
func (p *Prober) familyTarget(ctx context.Context, n *derpmap.DERPNode, want6 bool) (netip.Addr, error) {
	if a, err := netip.ParseAddr(n.STUNTestIP); err == nil && a.Unmap().Is4() != want6 {
		return a.Unmap(), nil
	}
	fa := n.V4()
	network := "ip4"
	if want6 {
		fa, network = n.V6(), "ip6"
	}
	switch {
	case fa.Disabled:
		return netip.Addr{}, errNoAddress
	case fa.Addr.IsValid():
		return fa.Addr, nil
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
