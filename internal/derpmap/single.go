package derpmap

import (
	"cmp"
	"net/netip"
	"strconv"
)

// DefaultRegionID is the first of the region IDs (900-999) that Tailscale
// reserves for self-hosted relays.
const DefaultRegionID = 900

// SingleNode describes a one-node region, the map a new self-hosted relay
// starts with.
type SingleNode struct {
	RegionID   int    // 0 means DefaultRegionID
	RegionCode string // "" means "custom"
	RegionName string // "" means the host name
	NodeName   string // "" means the region ID followed by "a", e.g. "900a"
	HostName   string // required: DNS name or IP literal
	IP         netip.Addr
	CertName   string
	DERPPort   int // 0 means 443
	STUNPort   int // 0 means 3478, -1 no STUN
}

// Map builds the one-region DERP map for n.
func (n SingleNode) Map() *DERPMap {
	node := n.Node()
	return &DERPMap{Regions: map[int]*DERPRegion{node.RegionID: {
		RegionID:   node.RegionID,
		RegionCode: cmp.Or(n.RegionCode, "custom"),
		RegionName: cmp.Or(n.RegionName, n.HostName),
		Nodes:      []*DERPNode{node},
	}}}
}

// Node is n's DERP map node. The node's IP goes into IPv4 or IPv6 by
// family; the other family is left empty rather than "none", so clients
// may still find it through DNS when HostName is a name, and derpprobe
// does not report a probe of "none" as failing.
func (n SingleNode) Node() *DERPNode {
	id := cmp.Or(n.RegionID, DefaultRegionID)
	node := &DERPNode{
		Name:     cmp.Or(n.NodeName, strconv.Itoa(id)+"a"),
		RegionID: id,
		HostName: n.HostName,
		CertName: n.CertName,
		STUNPort: n.STUNPort,
		DERPPort: n.DERPPort,
	}
	if n.IP.IsValid() {
		ip := n.IP.Unmap()
		if ip.Is4() {
			node.IPv4 = ip.String()
		} else {
			node.IPv6 = ip.String()
		}
	}
	return node
}
