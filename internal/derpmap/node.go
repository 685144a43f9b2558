package derpmap

import (
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// Default ports of a node whose map entry leaves them zero, as Tailscale's
// client (derphttp) dials them.
const (
	DefaultSTUNPort = 3478
	DefaultDERPPort = 443
	// DefaultDERPPortPlain is the port over plain HTTP
	// (TS_DEBUG_USE_DERP_HTTP): derphttp dials 3340, the port of
	// `derper -dev` and `relayctl serve --dev`, not HTTP's 80.
	DefaultDERPPortPlain = 3340
)

// RegionScore is the home-selection factor for region id: 1 unless the
// map's HomeParams give a positive score.
func (m *DERPMap) RegionScore(id int) float64 {
	if m.HomeParams == nil {
		return 1
	}
	if s, ok := m.HomeParams.RegionScore[id]; ok && s > 0 {
		return s
	}
	return 1
}

// LookupRegion finds a region by its ID or, ignoring case, its
// RegionCode, as an operator names it on a command line.
func (m *DERPMap) LookupRegion(name string) (id int, ok bool) {
	name = strings.TrimSpace(name)
	if name == "" {
		return 0, false
	}
	if id, err := strconv.Atoi(name); err == nil {
		if _, ok := m.Regions[id]; ok {
			return id, true
		}
	}
	for _, id := range m.RegionIDs() {
		if r := m.Regions[id]; r != nil && strings.EqualFold(r.RegionCode, name) {
			return id, true
		}
	}
	return 0, false
}

// Label is how results and errors name a region: its code, else its ID.
func (r *DERPRegion) Label() string {
	if r.RegionCode != "" {
		return r.RegionCode
	}
	return strconv.Itoa(r.RegionID)
}

// STUNPortOrDefault is the node's STUN port; -1 means it has none.
func (n *DERPNode) STUNPortOrDefault() int {
	if n.STUNPort == 0 {
		return DefaultSTUNPort
	}
	return n.STUNPort
}

// DERPPortFor is the node's DERP port over TLS, or over plain HTTP when
// plain is set.
func (n *DERPNode) DERPPortFor(plain bool) int {
	switch {
	case n.DERPPort != 0:
		return n.DERPPort
	case plain:
		return DefaultDERPPortPlain
	}
	return DefaultDERPPort
}

// URL is the node's DERP endpoint as Tailscale's client writes it, over
// HTTPS or, when plain is set, plain HTTP: HostName (the Host header and
// SNI), with DERPPort only when it is set and not the scheme's own port.
// The port to connect to is DERPPortFor, which is not the URL's port over
// plain HTTP with DERPPort unset.
func (n *DERPNode) URL(plain bool) string {
	scheme, schemePort := "https", 443
	if plain {
		scheme, schemePort = "http", 80
	}
	host := n.HostName
	if n.DERPPort != 0 && n.DERPPort != schemePort {
		host = net.JoinHostPort(host, strconv.Itoa(n.DERPPort))
	} else if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return scheme + "://" + host + "/derp"
}

// Family says how a node is reached over one address family.
type Family struct {
	Addr     netip.Addr // valid: the map forces this address
	Disabled bool       // the field holds a non-IP value such as "none"
	// neither: resolve HostName
}

func parseFamily(v string, want6 bool) Family {
	if v == "" {
		return Family{}
	}
	a, err := netip.ParseAddr(v)
	if err != nil || a.Unmap().Is4() == want6 {
		return Family{Disabled: true}
	}
	return Family{Addr: a.Unmap()}
}

// V4 is how the node is reached over IPv4, from its IPv4 field.
func (n *DERPNode) V4() Family { return parseFamily(n.IPv4, false) }

// V6 is how the node is reached over IPv6, from its IPv6 field.
func (n *DERPNode) V6() Family { return parseFamily(n.IPv6, true) }

// DialHost is the host a client connects to: the forced IPv4, else the
// forced IPv6, else HostName for DNS.
func (n *DERPNode) DialHost() string {
	if a := n.V4().Addr; a.IsValid() {
		return a.String()
	}
	if a := n.V6().Addr; a.IsValid() {
		return a.String()
	}
	return n.HostName
}

// RenderNode is n alone as one line of JSON, the form serve logs for an
// operator to paste into an existing region.
func RenderNode(n *DERPNode) ([]byte, error) {
	b, err := json.Marshal(n)
	if err != nil {
		return nil, fmt.Errorf("derp map node: %w", err)
	}
	return b, nil
}
