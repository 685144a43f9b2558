package derpmap

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/tailscale/hujson"
)

// PolicyApplied is the outcome of ApplyToPolicy.
type PolicyApplied struct {
	// Policy is the new policy file.
	Policy []byte
	// Added is set when the file had no derpMap member and one was added.
	Added bool
	// KeptOmitDefaultRegions is set when the old derpMap omitted
	// Tailscale's regions and the new one keeps doing so.
	KeptOmitDefaultRegions bool
}

// ApplyToPolicy puts m into a Tailscale policy file (HuJSON) as its
// derpMap member: the old member's value is replaced, or a member is
// added at the end of the top-level object. Every byte outside that value
// is kept, comments included: the file is patched through Tailscale's own
// HuJSON syntax tree, never re-formatted. An old derpMap with
// omitDefaultRegions set keeps it, so applying an inventory never turns
// Tailscale's regions back on unasked.
func ApplyToPolicy(policy []byte, m *DERPMap) (PolicyApplied, error) {
	root, err := hujson.Parse(policy)
	if err != nil {
		return PolicyApplied{}, fmt.Errorf("policy file: %w", err)
	}
	obj, ok := root.Value.(*hujson.Object)
	if !ok {
		return PolicyApplied{}, errors.New("policy file: the top level is not an object")
	}
	member, err := findPolicyMember(obj)
	if err != nil {
		return PolicyApplied{}, err
	}
	var res PolicyApplied
	indent, unit := policyIndent(obj, member)
	if member != nil {
		old, err := decodeHuJSONMap(member.Value)
		if err != nil {
			return PolicyApplied{}, fmt.Errorf("policy file: existing %s: %w", PolicyKey, err)
		}
		if old.OmitDefaultRegions && !m.OmitDefaultRegions {
			m = WithOmitDefaultRegions(m)
			res.KeptOmitDefaultRegions = true
		}
	}
	body, err := renderIndented(m, indent, unit)
	if err != nil {
		return PolicyApplied{}, err
	}
	value, err := hujson.Parse(body)
	if err != nil {
		return PolicyApplied{}, fmt.Errorf("derp map: %w", err)
	}
	if member != nil {
		member.Value.Value = value.Value
	} else {
		res.Added = true
		if len(obj.Members) == 0 && len(obj.AfterExtra) == 0 {
			obj.AfterExtra = hujson.Extra("\n")
		}
		obj.Members = append(obj.Members, hujson.ObjectMember{
			Name:  hujson.Value{BeforeExtra: hujson.Extra("\n" + indent), Value: hujson.String(PolicyKey)},
			Value: hujson.Value{BeforeExtra: hujson.Extra(" "), Value: value.Value},
		})
		// Keep the file's trailing-comma habit: hujson writes a comma
		// after the last member when its AfterExtra is non-nil.
		if n := len(obj.Members); n > 1 && obj.Members[n-2].Value.AfterExtra != nil {
			obj.Members[n-1].Value.AfterExtra = hujson.Extra{}
		}
	}
	res.Policy = root.Pack()
	return res, nil
}

// PolicyDERPMap reads the derpMap member of a Tailscale policy file;
// found is false when the file has none.
func PolicyDERPMap(policy []byte) (m *DERPMap, found bool, err error) {
	root, err := hujson.Parse(policy)
	if err != nil {
		return nil, false, fmt.Errorf("policy file: %w", err)
	}
	obj, ok := root.Value.(*hujson.Object)
	if !ok {
		return nil, false, errors.New("policy file: the top level is not an object")
	}
	member, err := findPolicyMember(obj)
	if err != nil || member == nil {
		return nil, false, err
	}
	m, err = decodeHuJSONMap(member.Value)
	if err != nil {
		return nil, true, fmt.Errorf("policy file: %s: %w", PolicyKey, err)
	}
	return m, true, nil
}

// findPolicyMember finds the derpMap member. Tailscale reads policy keys
// case-insensitively, so "DERPMap" counts too, and two spellings would
// be ambiguous.
func findPolicyMember(obj *hujson.Object) (*hujson.ObjectMember, error) {
	var found *hujson.ObjectMember
	for i := range obj.Members {
		lit, ok := obj.Members[i].Name.Value.(hujson.Literal)
		if !ok || !strings.EqualFold(lit.String(), PolicyKey) {
			continue
		}
		if found != nil {
			return nil, fmt.Errorf("policy file: %s appears twice", PolicyKey)
		}
		found = &obj.Members[i]
	}
	return found, nil
}

// policyIndent is the indentation of the file's top-level members and
// the unit it nests by: what the member before which a value goes uses,
// else the first member's, else a tab.
func policyIndent(obj *hujson.Object, member *hujson.ObjectMember) (indent, unit string) {
	indent = "\t"
	sample := member
	if sample == nil && len(obj.Members) > 0 {
		sample = &obj.Members[len(obj.Members)-1]
	}
	if sample != nil {
		extra := sample.Name.BeforeExtra
		if i := bytes.LastIndexByte(extra, '\n'); i >= 0 {
			if ws := extra[i+1:]; len(bytes.Trim(ws, " \t")) == 0 && len(ws) > 0 {
				indent = string(ws)
			}
		}
	}
	unit = indent
	if strings.HasPrefix(indent, "\t") {
		unit = "\t"
	}
	return indent, unit
}

func decodeHuJSONMap(v hujson.Value) (*DERPMap, error) {
	v = v.Clone()
	v.Standardize()
	var m DERPMap
	if err := json.Unmarshal(v.Pack(), &m); err != nil {
		return nil, err
	}
	return &m, nil
}
