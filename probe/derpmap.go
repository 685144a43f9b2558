// Package probe checks a fleet of DERP relays described by a DERP map: it
// loads and validates the map, probes every node (STUN, TLS, DERP delivery
// on a node and across the nodes of a region, optional bandwidth), runs the
// probes with bounded parallelism, keeps their history for a status page and
// Prometheus metrics, and answers the client's question "which relay would
// I use?" (netcheck).
package probe

import (
	"maps"
	"net/netip"
	"slices"
	"strconv"
)

// DERPMap is Tailscale's DERP map JSON document (tailcfg.DERPMap): the
// relays a tailnet uses, grouped into regions. Field names are Tailscale's.
type DERPMap struct {
	HomeParams *HomeParams `json:"HomeParams,omitempty"`
	// Regions is keyed by region ID; in JSON the key is the ID as a string.
	Regions            map[int]*DERPRegion `json:"Regions"`
	OmitDefaultRegions bool                `json:"omitDefaultRegions,omitempty"`
}

// HomeParams tune how a client picks its home region.
type HomeParams struct {
	// RegionScore scales a region's measured latency when choosing a
	// home: below 1 favours the region, above 1 penalises it; values ≤ 0
	// are ignored.
	RegionScore map[int]float64 `json:"RegionScore,omitempty"`
}

// DERPRegion is one region: nodes that mesh with each other so that
// clients homed on different nodes still reach one another.
type DERPRegion struct {
	RegionID        int         `json:"RegionID"`
	RegionCode      string      `json:"RegionCode"`
	RegionName      string      `json:"RegionName"`
	Latitude        float64     `json:"Latitude,omitempty"`
	Longitude       float64     `json:"Longitude,omitempty"`
	Avoid           bool        `json:"Avoid,omitempty"`
	NoMeasureNoHome bool        `json:"NoMeasureNoHome,omitempty"`
	Nodes           []*DERPNode `json:"Nodes"`
}

// DERPNode is one relay server.
type DERPNode struct {
	Name     string `json:"Name"`
	RegionID int    `json:"RegionID"`
	HostName string `json:"HostName"`
	// CertName is empty (verify the chain for HostName),
	// "sha256-raw:<hex>" (pin the leaf), or another name to verify the
	// chain against instead of HostName.
	CertName string `json:"CertName,omitempty"`
	// IPv4 and IPv6 force the address instead of DNS; any non-IP value
	// (conventionally "none") disables that family.
	IPv4 string `json:"IPv4,omitempty"`
	IPv6 string `json:"IPv6,omitempty"`
	// STUNPort: 0 means 3478, -1 means no STUN.
	STUNPort int  `json:"STUNPort,omitempty"`
	STUNOnly bool `json:"STUNOnly,omitempty"`
	// DERPPort: 0 means 443 (or 3340 in plain-HTTP debug mode).
	DERPPort         int    `json:"DERPPort,omitempty"`
	InsecureForTests bool   `json:"InsecureForTests,omitempty"`
	STUNTestIP       string `json:"STUNTestIP,omitempty"`
	CanPort80        bool   `json:"CanPort80,omitempty"`
}

// Default ports of a node whose map entry leaves them zero.
const (
	DefaultSTUNPort      = 3478
	DefaultDERPPort      = 443
	DefaultDERPPortPlain = 3340 // relayctl serve --dev, derper -dev
)

// RegionIDs returns the map's region IDs in ascending order.
func (m *DERPMap) RegionIDs() []int {
	return slices.Sorted(maps.Keys(m.Regions))
}

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

// familyAddr says how the node reaches one address family.
type familyAddr struct {
	addr     netip.Addr // set: a forced address
	disabled bool       // the field holds a non-IP value such as "none"
	// neither: resolve HostName
}

func parseFamilyField(v string, want6 bool) familyAddr {
	if v == "" {
		return familyAddr{}
	}
	a, err := netip.ParseAddr(v)
	if err != nil || a.Unmap().Is4() == want6 {
		return familyAddr{disabled: true}
	}
	return familyAddr{addr: a.Unmap()}
}

func (n *DERPNode) v4() familyAddr { return parseFamilyField(n.IPv4, false) }
func (n *DERPNode) v6() familyAddr { return parseFamilyField(n.IPv6, true) }

// regionLabel is how results and errors name a region: its code, else its
// ID.
func (r *DERPRegion) regionLabel() string {
	if r.RegionCode != "" {
		return r.RegionCode
	}
	return strconv.Itoa(r.RegionID)
}
