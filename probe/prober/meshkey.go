package prober

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/relayctl/relayctl/internal/derpmap"
	"github.com/relayctl/relayctl/relay/key"
)

// The mesh key lets its holder list every client of a node (with their
// IPs) and disconnect any of them. The prober hands it only to nodes that
// the operator named (Config.MeshRegions) and that can prove who they are:
// never to an InsecureForTests node (no certificate check), nor over plain
// HTTP to anything but this host, where a man in the middle could present
// its own server key and read the sealed ClientInfo.

// meshKeyFor is the mesh key to present to n: the configured key, or
// none.
func (p *Prober) meshKeyFor(n *derpmap.DERPNode) key.MeshKey {
	if p.cfg.MeshKey.IsZero() || meshKeyWithheld(p.cfg, n) != "" {
		return key.MeshKey{}
	}
	return p.cfg.MeshKey
}

// meshKeyWithheld says why n must not get the mesh key ("" when it may).
func meshKeyWithheld(cfg Config, n *derpmap.DERPNode) string {
	switch {
	case !slices.Contains(cfg.MeshRegions, n.RegionID):
		return fmt.Sprintf("region %d is not a mesh region", n.RegionID)
	case n.InsecureForTests:
		return "InsecureForTests is set (its certificate is not checked)"
	case cfg.PlainHTTP && !onThisHost(n):
		return "plain HTTP (TS_DEBUG_USE_DERP_HTTP) to a node that is not on this host"
	}
	return ""
}

// CheckMeshKey lists the nodes of the mesh regions that would not get the
// mesh key, so a command can refuse to start rather than probe them
// unprivileged. Nil when there is no key or nothing to object to.
func (c Config) CheckMeshKey(m *derpmap.DERPMap) error {
	if c.MeshKey.IsZero() {
		return nil
	}
	var problems []string
	for _, id := range c.MeshRegions {
		r, ok := m.Regions[id]
		if !ok {
			problems = append(problems, fmt.Sprintf("region %d is not in the DERP map", id))
			continue
		}
		for _, n := range r.Nodes {
			if why := meshKeyWithheld(c, n); why != "" {
				problems = append(problems, fmt.Sprintf("node %s: %s", n.Name, why))
			}
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("the mesh key would not be sent to: %s", strings.Join(problems, "; "))
	}
	return nil
}

// onThisHost reports whether every address n can be dialed at is a
// loopback address.
func onThisHost(n *derpmap.DERPNode) bool {
	loop := func(s string) bool {
		a, err := netip.ParseAddr(s)
		return err == nil && a.Unmap().IsLoopback()
	}
	if !loop(n.HostName) && n.HostName != "localhost" {
		return false
	}
	for _, fa := range []string{n.IPv4, n.IPv6} {
		if fa != "" && !loop(fa) {
			if _, err := netip.ParseAddr(fa); err == nil {
				return false // a forced non-loopback address
			}
		}
	}
	return true
}
