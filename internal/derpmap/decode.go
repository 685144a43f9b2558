package derpmap

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/tailscale/hujson"
	"go.yaml.in/yaml/v3"
)

// FormatInventory is relayctl's inventory file, an input format only.
const FormatInventory = "inventory"

// Decoded is a DERP map read from any format relayctl accepts.
type Decoded struct {
	Map    *DERPMap
	Format string // FormatJSON, FormatTailscalePolicy, FormatHeadscale or FormatInventory
	// Warnings are an inventory's warnings.
	Warnings []string
}

// SniffFormat tells which format b holds: FormatJSON (Tailscale's
// DERPMap JSON), FormatTailscalePolicy (a policy file with a derpMap),
// FormatInventory or FormatHeadscale; "" when it is none of them.
func SniffFormat(b []byte) string {
	trimmed := bytes.TrimLeft(b, " \t\r\n\ufeff")
	if len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '/') {
		keys, err := hujsonTopKeys(b)
		if err != nil {
			// Not HuJSON: JSON's own decoder gives the better error.
			return FormatJSON
		}
		switch {
		case hasKeyFold(keys, PolicyKey):
			return FormatTailscalePolicy
		case hasKeyFold(keys, "Regions"):
			return FormatJSON
		}
		return ""
	}
	var top map[string]yaml.Node
	if yaml.Unmarshal(b, &top) != nil {
		return ""
	}
	regions, ok := top["regions"]
	switch {
	case !ok:
		return ""
	case regions.Kind == yaml.SequenceNode:
		return FormatInventory
	case regions.Kind == yaml.MappingNode:
		return FormatHeadscale
	}
	return ""
}

// Decode reads a DERP map in any format SniffFormat knows; name is the
// file or URL of an inventory, for its messages and certificate files.
// Errors name the format, not the file: callers add that.
func Decode(name string, b []byte) (*Decoded, error) {
	format := SniffFormat(b)
	d := &Decoded{Format: format}
	var err error
	switch format {
	case FormatJSON:
		d.Map, err = decodeJSONMap(b)
	case FormatTailscalePolicy:
		var found bool
		d.Map, found, err = PolicyDERPMap(b)
		if err == nil && !found {
			err = fmt.Errorf("policy file has no %s", PolicyKey)
		}
	case FormatHeadscale:
		d.Map, err = decodeHeadscale(b)
	case FormatInventory:
		var inv *Inventory
		if inv, err = ParseInventory(name, b); err != nil {
			return nil, err
		}
		d.Warnings = inv.Warnings
		d.Map, err = inv.DERPMap()
	default:
		return nil, fmt.Errorf("not a DERP map: want Tailscale's DERPMap JSON ({\"Regions\": …}), a Tailscale policy file with a %q member, a relayctl inventory (regions: and nodes: lists) or headscale's DERP YAML (regions: keyed by region ID)", PolicyKey)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", format, err)
	}
	return d, nil
}

func hujsonTopKeys(b []byte) ([]string, error) {
	v, err := hujson.Parse(b)
	if err != nil {
		return nil, err
	}
	obj, ok := v.Value.(*hujson.Object)
	if !ok {
		return nil, errors.New("not an object")
	}
	keys := make([]string, 0, len(obj.Members))
	for _, m := range obj.Members {
		if lit, ok := m.Name.Value.(hujson.Literal); ok {
			keys = append(keys, lit.String())
		}
	}
	return keys, nil
}

func hasKeyFold(keys []string, want string) bool {
	for _, k := range keys {
		if strings.EqualFold(k, want) {
			return true
		}
	}
	return false
}

func decodeJSONMap(b []byte) (*DERPMap, error) {
	// Standardize blanks comments in the buffer it is given: a copy,
	// so the caller's bytes stay as read.
	std, err := hujson.Standardize(bytes.Clone(b))
	if err != nil {
		std = b // let encoding/json report the syntax error
	}
	var m DERPMap
	if err := json.Unmarshal(std, &m); err != nil {
		return nil, fmt.Errorf("decode JSON: %w", err)
	}
	return &m, nil
}

// decodeHeadscale decodes headscale's DERP YAML as headscale does
// (yaml.v3, lower-cased field names), but refuses keys headscale would
// silently ignore, such as a misspelt or capitalised field.
func decodeHeadscale(b []byte) (*DERPMap, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var m DERPMap
	if err := dec.Decode(&m); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			return nil, fmt.Errorf("decode YAML: %s (headscale's keys are the lower-case field names: regionid, hostname, stunport, …)", strings.Join(te.Errors, "; "))
		}
		return nil, fmt.Errorf("decode YAML: %s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	return &m, nil
}
