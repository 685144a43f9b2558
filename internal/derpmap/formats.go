package derpmap

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Output formats of a DERP map.
const (
	FormatJSON            = "json"             // Tailscale's DERPMap JSON
	FormatTailscalePolicy = "tailscale-policy" // the "derpMap" member of a policy file
	FormatHeadscale       = "headscale"        // headscale's DERP map YAML
)

// Formats lists the output formats, for flags and completions.
var Formats = []string{FormatJSON, FormatTailscalePolicy, FormatHeadscale}

// PolicyKey is the member of a Tailscale policy file holding its DERP map.
const PolicyKey = "derpMap"

// RenderFormat renders m in one of Formats.
func RenderFormat(m *DERPMap, format string) ([]byte, error) {
	switch format {
	case FormatJSON:
		return Render(m)
	case FormatTailscalePolicy:
		return RenderPolicyMember(m, "")
	case FormatHeadscale:
		return RenderHeadscale(m)
	}
	return nil, fmt.Errorf("unknown format %q: want %s", format, strings.Join(Formats, ", "))
}

// RenderPolicyMember is the `"derpMap": {...}` member for a Tailscale
// policy file, each line after the first starting with indent, ending in
// a newline and no comma.
func RenderPolicyMember(m *DERPMap, indent string) ([]byte, error) {
	v, err := renderIndented(m, indent, "  ")
	if err != nil {
		return nil, err
	}
	return append(append([]byte(`"`+PolicyKey+`": `), v...), '\n'), nil
}

// WithOmitDefaultRegions is a shallow copy of m with OmitDefaultRegions
// set, so a tailnet uses only m's regions.
func WithOmitDefaultRegions(m *DERPMap) *DERPMap {
	c := *m
	c.OmitDefaultRegions = true
	return &c
}

// RenderHeadscale is m as the YAML file headscale's derp.paths setting
// reads. Headscale decodes it into tailcfg.DERPMap with yaml.v3 and no
// YAML tags, so every key is the Go field name in lower case (regionid,
// hostname, stunport, …); fields JSON would omit when empty are left out.
func RenderHeadscale(m *DERPMap) ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(headscaleNode(reflect.ValueOf(m))); err != nil {
		return nil, fmt.Errorf("derp map: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("derp map: %w", err)
	}
	return buf.Bytes(), nil
}

// headscaleNode builds the YAML tree yaml.v3 would decode back into v's
// type with its default (lower-cased field name) keys.
func headscaleNode(v reflect.Value) *yaml.Node {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}
		}
		return headscaleNode(v.Elem())
	case reflect.Struct:
		n := &yaml.Node{Kind: yaml.MappingNode}
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			if strings.Contains(f.Tag.Get("json"), "omitempty") && v.Field(i).IsZero() {
				continue
			}
			n.Content = append(n.Content, scalarNode(strings.ToLower(f.Name)), headscaleNode(v.Field(i)))
		}
		return n
	case reflect.Map:
		n := &yaml.Node{Kind: yaml.MappingNode}
		keys := v.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int { return compareKeys(a, b) })
		for _, k := range keys {
			n.Content = append(n.Content, headscaleNode(k), headscaleNode(v.MapIndex(k)))
		}
		return n
	case reflect.Slice:
		n := &yaml.Node{Kind: yaml.SequenceNode}
		for i := range v.Len() {
			n.Content = append(n.Content, headscaleNode(v.Index(i)))
		}
		return n
	}
	var n yaml.Node
	if err := n.Encode(v.Interface()); err != nil {
		// Only ints, floats, strings and bools reach here.
		panic(fmt.Sprintf("derpmap: encode %v: %v", v.Type(), err))
	}
	return &n
}

func scalarNode(s string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
}

func compareKeys(a, b reflect.Value) int {
	if a.CanInt() && b.CanInt() {
		return cmp.Compare(a.Int(), b.Int())
	}
	return strings.Compare(fmt.Sprint(a.Interface()), fmt.Sprint(b.Interface()))
}

// renderIndented is m as indented JSON for a value that starts after a
// key: the first line has no prefix, the others start with prefix.
func renderIndented(m *DERPMap, prefix, unit string) ([]byte, error) {
	b, err := json.MarshalIndent(m, prefix, unit)
	if err != nil {
		return nil, fmt.Errorf("derp map: %w", err)
	}
	return b, nil
}
