package derpmap

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/relayctl/relayctl/internal/certs"
	"go.yaml.in/yaml/v3"
)

// Self-hosted relays should use region IDs in this range, which
// Tailscale leaves free of its own regions.
const (
	SelfHostedMinID = 900
	SelfHostedMaxID = 999
)

// MaxRegionID is the largest region ID a map may hold: 2^53-1 survives
// a JavaScript number.
const MaxRegionID = 1<<53 - 1

var (
	topKeys    = []string{"regions", "nodes"}
	regionKeys = []string{"id", "code", "name", "score", "avoid", "no-measure-no-home", "latitude", "longitude"}
	nodeKeys   = []string{"name", "region", "hostname", "ipv4", "ipv6", "derp-port", "stun-port", "stun-only", "can-port-80", "cert"}
)

// ParseInventory reads an inventory file's contents; path names it in
// messages, and relative certificate files are read from its directory.
// A fault is reported as an *InventoryError listing every problem found,
// each with its line.
func ParseInventory(path string, b []byte) (*Inventory, error) {
	inv := &Inventory{Path: path, src: b, Map: &DERPMap{Regions: map[int]*DERPRegion{}}}
	if !strings.Contains(path, "://") {
		inv.Dir = filepath.Dir(path)
	}
	p := &invParser{inv: inv}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
		return nil, &InventoryError{Path: path, Problems: []Problem{{Msg: "empty document"}}}
	} else if err != nil {
		return nil, &InventoryError{Path: path, Problems: []Problem{{Msg: "YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}}}
	}
	inv.doc = &doc
	if len(doc.Content) != 1 {
		p.bad(&doc, "empty document")
	} else {
		p.top(doc.Content[0])
	}
	if len(p.problems) > 0 {
		return nil, &InventoryError{Path: path, Problems: p.problems}
	}
	return inv, nil
}

type invParser struct {
	inv      *Inventory
	problems []Problem
	// codes and ids resolve a node's region reference.
	codes map[string]*DERPRegion
	ids   map[int]*DERPRegion
	lines map[*DERPRegion]int
}

func (p *invParser) bad(n *yaml.Node, format string, args ...any) {
	p.problems = append(p.problems, Problem{Line: n.Line, Msg: fmt.Sprintf(format, args...)})
}

func (p *invParser) warn(n *yaml.Node, format string, args ...any) {
	p.inv.Warnings = append(p.inv.Warnings, fmt.Sprintf("%s:%d: %s", p.inv.Path, n.Line, fmt.Sprintf(format, args...)))
}

// fields returns a mapping's values by key, reporting a non-mapping,
// unknown keys and repeated keys.
func (p *invParser) fields(n *yaml.Node, what string, allowed []string) map[string]*yaml.Node {
	if n.Kind != yaml.MappingNode {
		p.bad(n, "%s: want a mapping of %s", what, strings.Join(allowed, ", "))
		return nil
	}
	out := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch {
		case !slices.Contains(allowed, k.Value):
			p.bad(k, "%s: unknown key %q (known: %s)", what, k.Value, strings.Join(allowed, ", "))
		case out[k.Value] != nil:
			p.bad(k, "%s: key %q given twice", what, k.Value)
		default:
			out[k.Value] = v
		}
	}
	return out
}

func (p *invParser) str(f map[string]*yaml.Node, key, what string) string {
	return p.scalar(f[key], key, what)
}

// scalar is v's text; "" when absent or null.
func (p *invParser) scalar(v *yaml.Node, key, what string) string {
	if v == nil || v.Tag == "!!null" {
		return ""
	}
	if v.Kind != yaml.ScalarNode {
		p.bad(v, "%s: %s: want a string", what, key)
		return ""
	}
	return v.Value
}

func (p *invParser) num(f map[string]*yaml.Node, key, what string, out any) {
	v := f[key]
	if v == nil || v.Tag == "!!null" {
		return
	}
	if v.Kind != yaml.ScalarNode || v.Decode(out) != nil {
		kind := "an integer"
		switch out.(type) {
		case *bool:
			kind = "true or false"
		case *float64:
			kind = "a number"
		}
		p.bad(v, "%s: %s: %q is not %s", what, key, v.Value, kind)
	}
}

func (p *invParser) top(n *yaml.Node) {
	f := p.fields(n, "inventory", topKeys)
	if f == nil {
		return
	}
	p.codes, p.ids, p.lines = map[string]*DERPRegion{}, map[int]*DERPRegion{}, map[*DERPRegion]int{}
	for _, key := range topKeys {
		if v := f[key]; v == nil || v.Kind != yaml.SequenceNode || len(v.Content) == 0 {
			where := n
			if v != nil {
				where = v
			}
			p.bad(where, "%s: want a non-empty list", key)
			f[key] = nil
		}
	}
	if f["regions"] != nil {
		for _, r := range f["regions"].Content {
			p.region(r)
		}
	}
	if f["nodes"] != nil {
		names := map[string]int{}
		for _, nd := range f["nodes"].Content {
			p.node(nd, names)
		}
	}
	for _, id := range p.inv.Map.RegionIDs() {
		if r := p.inv.Map.Regions[id]; len(r.Nodes) == 0 && f["nodes"] != nil {
			p.problems = append(p.problems, Problem{Line: p.lines[r], Msg: fmt.Sprintf("region %d (%s): no node names it", id, r.RegionCode)})
		}
	}
}

func (p *invParser) region(n *yaml.Node) {
	f := p.fields(n, "region", regionKeys)
	if f == nil {
		return
	}
	r := &DERPRegion{}
	what := "region"
	p.num(f, "id", what, &r.RegionID)
	r.RegionCode = p.str(f, "code", what)
	r.RegionName = p.str(f, "name", what)
	var score float64
	p.num(f, "score", what, &score)
	p.num(f, "avoid", what, &r.Avoid)
	p.num(f, "no-measure-no-home", what, &r.NoMeasureNoHome)
	p.num(f, "latitude", what, &r.Latitude)
	p.num(f, "longitude", what, &r.Longitude)

	switch id := r.RegionID; {
	case f["id"] == nil:
		p.bad(n, "region: id: missing (%d-%d for self-hosted relays)", SelfHostedMinID, SelfHostedMaxID)
		return
	case id <= 0 || id > MaxRegionID:
		p.bad(f["id"], "region %d: id out of range: want %d-%d for self-hosted relays", id, SelfHostedMinID, SelfHostedMaxID)
		return
	case p.ids[id] != nil:
		p.bad(f["id"], "region %d: id also used on line %d", id, p.lines[p.ids[id]])
		return
	case id < SelfHostedMinID || id > SelfHostedMaxID:
		p.warn(f["id"], "region %d: outside %d-%d, the IDs Tailscale leaves to self-hosted relays; it replaces or clashes with a Tailscale region of that ID", id, SelfHostedMinID, SelfHostedMaxID)
	}
	switch {
	case r.RegionCode == "":
		p.bad(n, "region %d: code: missing (a short name such as \"fra\")", r.RegionID)
	case p.codes[r.RegionCode] != nil:
		p.bad(f["code"], "region %d: code %q also used on line %d", r.RegionID, r.RegionCode, p.lines[p.codes[r.RegionCode]])
	case isDecimal(r.RegionCode):
		p.bad(f["code"], "region %d: code %q: a code that is a number is confused with region IDs", r.RegionID, r.RegionCode)
	default:
		p.codes[r.RegionCode] = r
	}
	if r.RegionName == "" {
		r.RegionName = r.RegionCode
	}
	if f["score"] != nil {
		if score <= 0 {
			p.bad(f["score"], "region %d: score %v: want a positive factor (below 1 favours the region, above 1 penalises it)", r.RegionID, score)
		} else {
			if p.inv.Map.HomeParams == nil {
				p.inv.Map.HomeParams = &DERPHomeParams{RegionScore: map[int]float64{}}
			}
			p.inv.Map.HomeParams.RegionScore[r.RegionID] = score
		}
	}
	p.ids[r.RegionID] = r
	p.lines[r] = n.Line
	p.inv.Map.Regions[r.RegionID] = r
}

func (p *invParser) node(n *yaml.Node, names map[string]int) {
	f := p.fields(n, "node", nodeKeys)
	if f == nil {
		return
	}
	d := &DERPNode{}
	d.Name = p.str(f, "name", "node")
	what := fmt.Sprintf("node %q", d.Name)
	ref := p.str(f, "region", what)
	d.HostName = p.str(f, "hostname", what)
	d.IPv4 = p.str(f, "ipv4", what)
	d.IPv6 = p.str(f, "ipv6", what)
	p.num(f, "derp-port", what, &d.DERPPort)
	p.num(f, "stun-port", what, &d.STUNPort)
	p.num(f, "stun-only", what, &d.STUNOnly)
	p.num(f, "can-port-80", what, &d.CanPort80)

	switch line, dup := names[d.Name]; {
	case d.Name == "":
		p.bad(n, "node: name: missing (unique across the map, e.g. \"fra1\")")
	case dup:
		p.bad(f["name"], "%s: name also used on line %d (node names are unique across the map)", what, line)
	default:
		names[d.Name] = n.Line
	}
	if d.HostName == "" {
		p.bad(n, "%s: hostname: missing", what)
	} else if !validHostName(d.HostName) {
		p.bad(f["hostname"], "%s: hostname %q: want a DNS name or an IP address (no scheme, port or path)", what, d.HostName)
	}
	p.checkFamily(f, "ipv4", what, d.IPv4, false)
	p.checkFamily(f, "ipv6", what, d.IPv6, true)
	if f["derp-port"] != nil && (d.DERPPort < 1 || d.DERPPort > 65535) {
		p.bad(f["derp-port"], "%s: derp-port %d: want 1-65535 (leave it out for 443)", what, d.DERPPort)
	}
	if f["stun-port"] != nil && (d.STUNPort < -1 || d.STUNPort == 0 || d.STUNPort > 65535) {
		p.bad(f["stun-port"], "%s: stun-port %d: want 1-65535, or -1 for no STUN (leave it out for 3478)", what, d.STUNPort)
	}
	if d.STUNOnly && d.STUNPort == -1 {
		p.bad(f["stun-only"], "%s: stun-only with stun-port -1: the node would do nothing", what)
	}
	if d.CanPort80 && !isAddr(d.IPv4, false) {
		p.bad(f["can-port-80"], "%s: can-port-80 needs an ipv4 address (clients use it for captive-portal checks)", what)
	}

	src := NodeSource{Node: d, Line: n.Line, certValue: f["cert"]}
	p.trust(&src, f["cert"], what)
	if d.STUNOnly && src.Trust != TrustPublicCA {
		p.bad(f["cert"], "%s: cert on a stun-only node, which serves no TLS: leave cert out", what)
	}

	region := p.resolveRegion(f["region"], ref, what, n)
	if region != nil {
		d.RegionID = region.RegionID
		region.Nodes = append(region.Nodes, d)
	}
	p.inv.Nodes = append(p.inv.Nodes, src)
}

func (p *invParser) resolveRegion(v *yaml.Node, ref, what string, n *yaml.Node) *DERPRegion {
	if ref == "" {
		p.bad(n, "%s: region: missing (a region's code or id)", what)
		return nil
	}
	if r := p.codes[ref]; r != nil {
		return r
	}
	if id, err := strconv.Atoi(ref); err == nil && p.ids[id] != nil {
		return p.ids[id]
	}
	known := make([]string, 0, len(p.codes))
	for code, r := range p.codes {
		known = append(known, fmt.Sprintf("%s (%d)", code, r.RegionID))
	}
	slices.Sort(known)
	p.bad(v, "%s: region %q is not in regions (known: %s)", what, ref, strings.Join(known, ", "))
	return nil
}

// checkFamily accepts an address of the family, or "none", which tells
// clients not to use the family at all.
func (p *invParser) checkFamily(f map[string]*yaml.Node, key, what, v string, want6 bool) {
	if v == "" || v == "none" {
		return
	}
	family := "IPv4"
	if want6 {
		family = "IPv6"
	}
	a, err := parseAddr(v)
	switch {
	case err != nil:
		p.bad(f[key], "%s: %s %q: not an %s address (or \"none\" to disable %s)", what, key, v, family, family)
	case a.Is4() == want6:
		p.bad(f[key], "%s: %s %q: not an %s address", what, key, v, family)
	case a.IsUnspecified():
		p.bad(f[key], "%s: %s %q: the unspecified address; give the node's public address", what, key, v)
	}
}

func (p *invParser) trust(src *NodeSource, v *yaml.Node, what string) {
	s := p.scalar(v, "cert", what)
	switch {
	case v == nil || s == certPublicCA:
		src.Trust = TrustPublicCA
	case s == certPending:
		src.Trust = TrustPending
	case strings.HasPrefix(s, PinPrefix):
		if !certs.ValidPin(s) {
			p.bad(v, "%s: cert %q: a pin is %s and 64 lowercase hex digits (clients compare it exactly)", what, s, PinPrefix)
			return
		}
		src.Trust = TrustPin
		src.Node.CertName = s
	case strings.HasPrefix(s, certFilePrefix):
		src.Trust = TrustFile
		file := strings.TrimPrefix(s, certFilePrefix)
		if p.inv.Dir == "" && !filepath.IsAbs(file) {
			p.bad(v, "%s: cert %q: a relative file in an inventory that is not a local file", what, s)
			return
		}
		if !filepath.IsAbs(file) {
			file = filepath.Join(p.inv.Dir, file)
		}
		src.CertFile = file
		pin, err := PinOfFile(file)
		if err != nil {
			p.bad(v, "%s: cert: %v", what, err)
			return
		}
		src.Node.CertName = pin
	default:
		p.bad(v, "%s: cert %q: want %s, %s (to fill in with 'relayctl derpmap pin'), %s<hex> or %s<certificate file>", what, s, certPublicCA, certPending, PinPrefix, certFilePrefix)
	}
}

func isDecimal(s string) bool {
	_, err := strconv.Atoi(s)
	return err == nil
}
