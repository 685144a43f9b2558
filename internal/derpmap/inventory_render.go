package derpmap

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// RenderInventory writes m as an inventory file, the reverse of
// ParseInventory: a map printed by certgen, or an existing fleet's map,
// becomes a fragment to paste into the fleet's inventory. Fields an
// inventory cannot express (a CertName naming another host,
// InsecureForTests, STUNTestIP) are an error rather than dropped.
func RenderInventory(m *DERPMap) ([]byte, error) {
	regions := &yaml.Node{Kind: yaml.SequenceNode}
	nodes := &yaml.Node{Kind: yaml.SequenceNode}
	for _, id := range m.RegionIDs() {
		r := m.Regions[id]
		if r == nil {
			continue
		}
		rn := &yaml.Node{Kind: yaml.MappingNode}
		put(rn, "id", strconv.Itoa(id), "!!int")
		put(rn, "code", r.RegionCode, "!!str")
		if r.RegionName != r.RegionCode {
			put(rn, "name", r.RegionName, "!!str")
		}
		if s := regionScore(m, id); s != 1 {
			put(rn, "score", strconv.FormatFloat(s, 'g', -1, 64), "!!float")
		}
		putBool(rn, "avoid", r.Avoid)
		putBool(rn, "no-measure-no-home", r.NoMeasureNoHome)
		if r.Latitude != 0 || r.Longitude != 0 {
			put(rn, "latitude", strconv.FormatFloat(r.Latitude, 'g', -1, 64), "!!float")
			put(rn, "longitude", strconv.FormatFloat(r.Longitude, 'g', -1, 64), "!!float")
		}
		regions.Content = append(regions.Content, rn)
		for _, n := range r.Nodes {
			nn, err := inventoryNode(r, n)
			if err != nil {
				return nil, err
			}
			nodes.Content = append(nodes.Content, nn)
		}
	}
	doc := &yaml.Node{Kind: yaml.MappingNode}
	doc.Content = append(doc.Content, scalarNode("regions"), regions, scalarNode("nodes"), nodes)
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("inventory: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("inventory: %w", err)
	}
	return buf.Bytes(), nil
}

func inventoryNode(r *DERPRegion, n *DERPNode) (*yaml.Node, error) {
	switch {
	case n.InsecureForTests:
		return nil, fmt.Errorf("node %q: InsecureForTests has no inventory key", n.Name)
	case n.STUNTestIP != "":
		return nil, fmt.Errorf("node %q: STUNTestIP has no inventory key", n.Name)
	case n.CertName != "" && !strings.HasPrefix(n.CertName, PinPrefix):
		return nil, fmt.Errorf("node %q: CertName %q names another host; an inventory node trusts a public CA for its hostname or a pin", n.Name, n.CertName)
	}
	nn := &yaml.Node{Kind: yaml.MappingNode}
	put(nn, "name", n.Name, "!!str")
	put(nn, "region", r.RegionCode, "!!str")
	put(nn, "hostname", n.HostName, "!!str")
	put(nn, "ipv4", n.IPv4, "!!str")
	put(nn, "ipv6", n.IPv6, "!!str")
	if n.DERPPort != 0 {
		put(nn, "derp-port", strconv.Itoa(n.DERPPort), "!!int")
	}
	if n.STUNPort != 0 {
		put(nn, "stun-port", strconv.Itoa(n.STUNPort), "!!int")
	}
	putBool(nn, "stun-only", n.STUNOnly)
	putBool(nn, "can-port-80", n.CanPort80)
	cert := certPublicCA
	if n.CertName != "" {
		cert = n.CertName
	}
	put(nn, "cert", cert, "!!str")
	return nn, nil
}

// put adds key: value to a mapping, unless value is empty.
func put(m *yaml.Node, key, value, tag string) {
	if value == "" {
		return
	}
	m.Content = append(m.Content, scalarNode(key), &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: value})
}

func putBool(m *yaml.Node, key string, v bool) {
	if v {
		put(m, key, "true", "!!bool")
	}
}
