package derpmap

import (
	"bytes"
	"fmt"
	"slices"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// WithPins returns the inventory file with the cert value of the given
// nodes (indexes into Nodes) set to their new pins. Each value is
// replaced where it stands, so every other byte, comments and layout
// included, stays; a value that cannot be located exactly (a multi-line
// or oddly quoted scalar) makes the whole file re-encoded through yaml.v3,
// which keeps comments but normalises layout.
func (inv *Inventory) WithPins(pins map[int]string) ([]byte, error) {
	out := inv.src
	// Splice from the end so earlier offsets stay valid.
	type edit struct {
		off, n int
		text   string
	}
	var edits []edit
	spliceable := true
	for i, pin := range pins {
		v := inv.Nodes[i].certValue
		if v == nil {
			return nil, fmt.Errorf("node %q has no cert key to set", inv.Nodes[i].Node.Name)
		}
		off, raw, ok := locateScalar(inv.src, v)
		if !ok {
			spliceable = false
			break
		}
		edits = append(edits, edit{off, len(raw), requote(v, pin)})
	}
	if spliceable {
		slices.SortFunc(edits, func(a, b edit) int { return b.off - a.off })
		out = append([]byte(nil), inv.src...)
		for _, e := range edits {
			out = append(out[:e.off], append([]byte(e.text), out[e.off+e.n:]...)...)
		}
	} else {
		for i, pin := range pins {
			v := inv.Nodes[i].certValue
			v.Value, v.Style, v.Tag = pin, 0, "!!str"
		}
		var buf bytes.Buffer
		enc := yaml.NewEncoder(&buf)
		enc.SetIndent(2)
		if err := enc.Encode(inv.doc); err != nil {
			return nil, err
		}
		if err := enc.Close(); err != nil {
			return nil, err
		}
		out = buf.Bytes()
	}
	// Check the result says what was meant.
	back, err := ParseInventory(inv.Path, out)
	if err != nil {
		return nil, fmt.Errorf("rewritten inventory: %w", err)
	}
	for i, pin := range pins {
		if got := back.Nodes[i].Node.CertName; got != pin {
			return nil, fmt.Errorf("rewritten inventory: node %q has %q, want %q", back.Nodes[i].Node.Name, got, pin)
		}
	}
	return out, nil
}

// locateScalar finds a single-line scalar's bytes in src from its line
// and column (yaml.v3 counts columns in characters).
func locateScalar(src []byte, v *yaml.Node) (off int, raw string, ok bool) {
	if v.Kind != yaml.ScalarNode || v.Line < 1 || v.Column < 1 {
		return 0, "", false
	}
	line := 1
	for line < v.Line {
		i := bytes.IndexByte(src[off:], '\n')
		if i < 0 {
			return 0, "", false
		}
		off += i + 1
		line++
	}
	for range v.Column - 1 {
		_, size := utf8.DecodeRune(src[off:])
		if size == 0 || src[off] == '\n' {
			return 0, "", false
		}
		off += size
	}
	switch v.Style {
	case 0:
		raw = v.Value
	case yaml.SingleQuotedStyle:
		raw = "'" + v.Value + "'"
	case yaml.DoubleQuotedStyle:
		raw = `"` + v.Value + `"`
	default:
		return 0, "", false
	}
	if !bytes.HasPrefix(src[off:], []byte(raw)) {
		return 0, "", false
	}
	return off, raw, true
}

func requote(v *yaml.Node, s string) string {
	switch v.Style {
	case yaml.SingleQuotedStyle:
		return "'" + s + "'"
	case yaml.DoubleQuotedStyle:
		return `"` + s + `"`
	}
	return s
}
