package derpmap

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// RegionChange is what a map change does to one region.
type RegionChange struct {
	ID    int
	Label string // "900 fra (Frankfurt)"
	// Kind is "added", "removed" or "changed".
	Kind string
	// Effects are the changes, each saying what clients notice.
	Effects []string
}

// MapChange is what replacing one DERP map with another does.
type MapChange struct {
	Regions []RegionChange // by region ID
	// Map-wide changes: omitDefaultRegions.
	Effects []string
}

// Empty reports whether the maps are the same to clients.
func (c MapChange) Empty() bool { return len(c.Regions) == 0 && len(c.Effects) == 0 }

// Diff compares old and new region by region.
func Diff(old, new *DERPMap) MapChange {
	var c MapChange
	if old.OmitDefaultRegions != new.OmitDefaultRegions {
		if new.OmitDefaultRegions {
			c.Effects = append(c.Effects, "omitDefaultRegions set: clients stop using Tailscale's own regions")
		} else {
			c.Effects = append(c.Effects, "omitDefaultRegions cleared: clients use Tailscale's own regions again")
		}
	}
	ids := slices.Sorted(maps.Keys(old.Regions))
	for id := range new.Regions {
		if old.Regions[id] == nil {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	oldNodes, newNodes := nodesByName(old), nodesByName(new)
	for _, id := range ids {
		o, n := old.Regions[id], new.Regions[id]
		switch {
		case n == nil:
			rc := RegionChange{ID: id, Label: regionLabel(o), Kind: "removed"}
			rc.Effects = append(rc.Effects, "clients homed here pick another home region; this region's nodes leave the map")
			for _, nd := range o.Nodes {
				if moved := newNodes[nd.Name]; moved != nil {
					rc.Effects = append(rc.Effects, fmt.Sprintf("node %s moves to region %d", nd.Name, moved.RegionID))
				}
			}
			c.Regions = append(c.Regions, rc)
		case o == nil:
			rc := RegionChange{ID: id, Label: regionLabel(n), Kind: "added"}
			for _, nd := range n.Nodes {
				rc.Effects = append(rc.Effects, "+ node "+describeNode(nd))
			}
			c.Regions = append(c.Regions, rc)
		default:
			rc := RegionChange{ID: id, Label: regionLabel(n), Kind: "changed"}
			rc.Effects = regionEffects(old, new, o, n, oldNodes)
			if len(rc.Effects) > 0 {
				c.Regions = append(c.Regions, rc)
			}
		}
	}
	return c
}

func regionEffects(oldMap, newMap *DERPMap, o, n *DERPRegion, oldNodes map[string]*DERPNode) []string {
	var out []string
	field := func(name string, a, b any, why string) {
		if a != b {
			s := fmt.Sprintf("~ %s %v → %v", name, a, b)
			if why != "" {
				s += ": " + why
			}
			out = append(out, s)
		}
	}
	field("code", o.RegionCode, n.RegionCode, "")
	field("name", o.RegionName, n.RegionName, "")
	field("avoid", o.Avoid, n.Avoid, "clients avoid or stop avoiding this region as a new home")
	field("no-measure-no-home", o.NoMeasureNoHome, n.NoMeasureNoHome, "clients do not measure or home here when set")
	field("score", regionScore(oldMap, o.RegionID), regionScore(newMap, n.RegionID), "home-region choice weighs this region's latency differently")
	field("latitude", o.Latitude, n.Latitude, "")
	field("longitude", o.Longitude, n.Longitude, "")

	inNew := map[string]bool{}
	for _, nd := range n.Nodes {
		inNew[nd.Name] = true
	}
	for _, nd := range o.Nodes {
		if !inNew[nd.Name] {
			out = append(out, "- node "+describeNode(nd)+": its clients reconnect to another node of the region")
		}
	}
	for _, nd := range n.Nodes {
		prev := oldNodes[nd.Name]
		switch {
		case prev == nil:
			out = append(out, "+ node "+describeNode(nd))
		case prev.RegionID != nd.RegionID:
			out = append(out, fmt.Sprintf("+ node %s, moved from region %d: its clients reconnect here", describeNode(nd), prev.RegionID))
		default:
			out = append(out, nodeEffects(prev, nd)...)
		}
	}
	if len(o.Nodes) > 0 && len(n.Nodes) > 0 && o.Nodes[0].Name != n.Nodes[0].Name {
		out = append(out, fmt.Sprintf("~ first node %s → %s: clients dial %s first", o.Nodes[0].Name, n.Nodes[0].Name, n.Nodes[0].Name))
	}
	return out
}

func nodeEffects(o, n *DERPNode) []string {
	var out []string
	field := func(name string, a, b any, why string) {
		if a != b {
			s := fmt.Sprintf("~ node %s: %s %v → %v", n.Name, name, a, b)
			if why != "" {
				s += ": " + why
			}
			out = append(out, s)
		}
	}
	if o.CertName != n.CertName {
		out = append(out, fmt.Sprintf("~ node %s: trust %s → %s: %s", n.Name, describeTrust(o.CertName), describeTrust(n.CertName), trustWhy(n.CertName)))
	}
	field("hostname", o.HostName, n.HostName, "clients connect to and verify the new name")
	field("ipv4", orDash(o.IPv4), orDash(n.IPv4), "")
	field("ipv6", orDash(o.IPv6), orDash(n.IPv6), "")
	field("derp port", portOr(o.DERPPort, 443), portOr(n.DERPPort, 443), "clients connect to the new port")
	field("stun port", portOr(o.STUNPort, 3478), portOr(n.STUNPort, 3478), "")
	field("stun-only", o.STUNOnly, n.STUNOnly, "")
	field("can-port-80", o.CanPort80, n.CanPort80, "")
	return out
}

func trustWhy(certName string) string {
	switch {
	case strings.HasPrefix(certName, PinPrefix):
		return "clients accept only the certificate with the new pin; a relay still serving the old one is refused"
	case certName == "":
		return "clients verify the certificate chain against public CAs"
	}
	return "clients verify the certificate chain for " + certName
}

func describeTrust(certName string) string {
	switch {
	case certName == "":
		return "public CA"
	case strings.HasPrefix(certName, PinPrefix):
		h := strings.TrimPrefix(certName, PinPrefix)
		if len(h) > 12 {
			h = h[:12] + "…"
		}
		return "pin " + h
	}
	return "CA for " + certName
}

func describeNode(n *DERPNode) string {
	s := n.Name + " " + n.HostName
	if n.DERPPort != 0 && n.DERPPort != 443 {
		s += ":" + strconv.Itoa(n.DERPPort)
	}
	if n.STUNOnly {
		s += " (STUN only)"
	}
	return s + ", " + describeTrust(n.CertName)
}

func regionLabel(r *DERPRegion) string {
	s := strconv.Itoa(r.RegionID) + " " + r.RegionCode
	if r.RegionName != "" && r.RegionName != r.RegionCode {
		s += " (" + r.RegionName + ")"
	}
	return s
}

func regionScore(m *DERPMap, id int) float64 {
	if m.HomeParams == nil {
		return 1
	}
	if s, ok := m.HomeParams.RegionScore[id]; ok && s > 0 {
		return s
	}
	return 1
}

func nodesByName(m *DERPMap) map[string]*DERPNode {
	out := map[string]*DERPNode{}
	for _, r := range m.Regions {
		for _, n := range r.Nodes {
			out[n.Name] = n
		}
	}
	return out
}

func portOr(p, def int) int {
	if p == 0 {
		return def
	}
	return p
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
