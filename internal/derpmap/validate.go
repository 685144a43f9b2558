package derpmap

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/relayctl/relayctl/internal/certs"
)

// MapProblem is one fault in a DERP map, located as precisely as possible.
type MapProblem struct {
	Region    int    // 0 when the fault is not in a region
	NodeIndex int    // the node's position in Nodes; -1 when not in a node
	Node      string // the node's name, when it has one
	Field     string // the JSON field at fault
	Msg       string
}

// String reads like `region 900 node "900a": CertName: …`.
func (p MapProblem) String() string {
	var parts []string
	if p.Region != 0 {
		parts = append(parts, fmt.Sprintf("region %d", p.Region))
	}
	switch {
	case p.NodeIndex >= 0 && p.Node != "":
		parts = append(parts, fmt.Sprintf("node %q", p.Node))
	case p.NodeIndex >= 0:
		parts = append(parts, fmt.Sprintf("Nodes[%d]", p.NodeIndex))
	}
	where := strings.Join(parts, " ")
	if p.Field != "" {
		if where != "" {
			where += ": "
		}
		where += p.Field
	}
	return where + ": " + p.Msg
}

// ValidationError lists every fault found in a DERP map.
type ValidationError struct {
	Problems []MapProblem
}

func (e *ValidationError) Error() string {
	if len(e.Problems) == 1 {
		return "invalid DERP map: " + e.Problems[0].String()
	}
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.String()
	}
	return fmt.Sprintf("invalid DERP map (%d problems): %s", len(e.Problems), strings.Join(parts, "; "))
}

// Validate checks the map for the mistakes that would make clients or
// probes misbehave, and names the region, node and field of each. It
// returns nil or a *ValidationError.
func (m *DERPMap) Validate() error {
	var v validator
	if len(m.Regions) == 0 {
		v.add(MapProblem{Field: "Regions", Msg: "no regions", NodeIndex: -1})
	}
	names := map[string]int{} // node name → region that has it first
	for _, id := range m.RegionIDs() {
		v.region(id, m.Regions[id], names)
	}
	if m.HomeParams != nil {
		for id := range m.HomeParams.RegionScore {
			if _, ok := m.Regions[id]; !ok {
				v.add(MapProblem{Field: "HomeParams.RegionScore", NodeIndex: -1, Msg: fmt.Sprintf("score for region %d, which is not in the map", id)})
			}
		}
	}
	if len(v.problems) == 0 {
		return nil
	}
	return &ValidationError{Problems: v.problems}
}

type validator struct{ problems []MapProblem }

func (v *validator) add(p MapProblem) { v.problems = append(v.problems, p) }

func (v *validator) region(id int, r *DERPRegion, names map[string]int) {
	bad := func(field, format string, args ...any) {
		v.add(MapProblem{Region: id, NodeIndex: -1, Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	if id <= 0 || id > MaxRegionID {
		bad("Regions", "region ID %d out of range 1..2^53-1", id)
	}
	if r == nil {
		bad("Regions", "null region")
		return
	}
	if r.RegionID != id {
		bad("RegionID", "%d does not match the map key %q", r.RegionID, strconv.Itoa(id))
	}
	if len(r.Nodes) == 0 {
		bad("Nodes", "region has no nodes")
	}
	for i, n := range r.Nodes {
		v.node(id, i, n, names)
	}
}

func (v *validator) node(region, i int, n *DERPNode, names map[string]int) {
	if n == nil {
		v.add(MapProblem{Region: region, NodeIndex: i, Msg: "null node"})
		return
	}
	bad := func(field, format string, args ...any) {
		v.add(MapProblem{Region: region, Node: n.Name, NodeIndex: i, Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	switch first, dup := names[n.Name]; {
	case n.Name == "":
		bad("Name", "empty (node names must be unique across the map)")
	case dup:
		bad("Name", "duplicate: also used in region %d", first)
	default:
		names[n.Name] = region
	}
	if n.RegionID != region {
		bad("RegionID", "%d, but the node is in region %d", n.RegionID, region)
	}
	if n.HostName == "" {
		bad("HostName", "empty")
	} else if strings.ContainsAny(n.HostName, "/: ") && !isIP(n.HostName) {
		bad("HostName", "%q is not a host name or IP address (no scheme, port or path)", n.HostName)
	}
	if a, err := netip.ParseAddr(n.IPv4); err == nil && !a.Unmap().Is4() {
		bad("IPv4", "%q is not an IPv4 address", n.IPv4)
	}
	if a, err := netip.ParseAddr(n.IPv6); err == nil && (a.Is4() || a.Is4In6()) {
		bad("IPv6", "%q is not an IPv6 address", n.IPv6)
	}
	if n.STUNPort < -1 || n.STUNPort > 65535 {
		bad("STUNPort", "%d: want 0 (3478), -1 (no STUN) or a port", n.STUNPort)
	}
	if n.DERPPort < 0 || n.DERPPort > 65535 {
		bad("DERPPort", "%d: want 0 (443) or a port", n.DERPPort)
	}
	if strings.HasPrefix(n.CertName, certs.PinPrefix) && !certs.ValidPin(n.CertName) {
		bad("CertName", "%q: a sha256-raw pin is 64 lowercase hex digits (clients compare it exactly)", n.CertName)
	}
	if n.CanPort80 && !n.V4().Addr.IsValid() {
		bad("CanPort80", "set, but IPv4 holds no address")
	}
	if n.STUNOnly && n.STUNPort == -1 {
		bad("STUNOnly", "set, but STUNPort is -1: the node does nothing")
	}
}

func isIP(s string) bool {
	_, err := netip.ParseAddr(s)
	return err == nil
}
