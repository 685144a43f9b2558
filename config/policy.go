package config

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Policy is the merged fleet policy for this node.
type Policy struct {
	// Settings are the enforced values, each from the most specific
	// document that sets it.
	Settings map[string]layerValue
	// Tags group node keys ("tag:ops" → ["nodekey:…"]).
	Tags map[string][]string
	// ACLs decide which tagged clients may send to which.
	ACLs []ACL
	// Documents are the policy documents read, in order.
	Documents []string
}

// ACL is one access rule, in the spirit of tailnet ACLs.
type ACL struct {
	Action string   `json:"action"`
	Src    []string `json:"src"`
	Dst    []string `json:"dst"`
}

// DefaultPolicyDir is read when no --policy is given and it exists.
const DefaultPolicyDir = "/etc/relayctl/policy.d"

// policyDoc is one parsed policy document.
type policyDoc struct {
	origin   string
	region   string // "" = any
	node     string // "" = any
	settings map[string]any
	tags     map[string][]string
	acls     []ACL
}

// specificity orders scopes: fleet < region < node < region+node.
func (d policyDoc) specificity() int {
	s := 0
	if d.region != "" {
		s++
	}
	if d.node != "" {
		s += 2
	}
	return s
}

func (d policyDoc) matches(region, node string) bool {
	return (d.region == "" || d.region == region) && (d.node == "" || d.node == node)
}

// loadPolicy reads every policy source and merges the documents that
// apply to this node: within the policy layer the most specific scope
// wins; among equally specific documents, the later one (sources in
// order, files in a directory by name).
func loadPolicy(src Sources, region, node string) (*Policy, error) {
	p := &Policy{Settings: map[string]layerValue{}, Tags: map[string][]string{}}
	var docs []policyDoc
	for _, s := range src.Policies {
		ds, err := readPolicySource(s, src.Fetch)
		if err != nil {
			return nil, err
		}
		docs = append(docs, ds...)
	}
	winner := map[string]int{} // setting → specificity of the doc that set it
	var rules []aclSource
	for _, d := range docs {
		p.Documents = append(p.Documents, d.origin)
		if err := checkTags(d); err != nil {
			return nil, err
		}
		if !d.matches(region, node) {
			continue
		}
		for k, v := range d.settings {
			if sp, ok := winner[k]; ok && sp > d.specificity() {
				continue
			}
			winner[k] = d.specificity()
			p.Settings[k] = layerValue{values: valueStrings(v), origin: d.origin}
		}
		for tag, keys := range d.tags {
			p.Tags[tag] = append(p.Tags[tag], keys...)
		}
		p.ACLs = append(p.ACLs, d.acls...)
		for i := range d.acls {
			rules = append(rules, aclSource{origin: d.origin, index: i})
		}
	}
	if err := checkACLs(p, rules); err != nil {
		return nil, err
	}
	return p, nil
}

// readPolicySource reads a directory of policy files, one file, or a URL
// (through fetch; see PolicyFetcher).
func readPolicySource(s string, fetch func(string) ([]byte, error)) ([]policyDoc, error) {
	if isPolicyURL(s) {
		if err := CheckPolicyURL(s); err != nil {
			return nil, err
		}
		if fetch == nil {
			return nil, fmt.Errorf("fleet policy %s: no fetcher for policy URLs", redactRaw(s))
		}
		b, err := fetch(s)
		if err != nil {
			return nil, err
		}
		d, err := policyDocFromBytes(s, b)
		if err != nil {
			return nil, err
		}
		return []policyDoc{d}, nil
	}
	fi, err := os.Stat(s)
	if err != nil {
		return nil, fmt.Errorf("fleet policy %s: %w", s, err)
	}
	if !fi.IsDir() {
		d, err := readPolicyFile(s)
		if err != nil {
			return nil, err
		}
		return []policyDoc{d}, nil
	}
	entries, err := os.ReadDir(s)
	if err != nil {
		return nil, fmt.Errorf("fleet policy %s: %w", s, err)
	}
	var docs []policyDoc
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || strings.HasPrefix(name, ".") || !isPolicyFile(name) {
			continue
		}
		d, err := readPolicyFile(filepath.Join(s, name))
		if err != nil {
			return nil, err
		}
		docs = append(docs, d)
	}
	return docs, nil
}

func isPolicyFile(name string) bool {
	return slices.Contains([]string{".yaml", ".yml", ".json", ".toml"}, filepath.Ext(name))
}

// readPolicyFile parses one policy document:
//
//	scope: {region: 900, node: derp1}   # optional
//	settings: {accept-connection-limit: 50}
//	tags: {"tag:ops": [nodekey:…]}
//	acls: [{action: accept, src: [tag:ops], dst: ["*"]}]
func readPolicyFile(path string) (policyDoc, error) {
	m, err := readSettingsDoc(path)
	if err != nil {
		return policyDoc{origin: path}, fmt.Errorf("fleet policy %s: %w", path, err)
	}
	return policyDocFrom(path, m)
}

// policyDocFrom checks one decoded policy document; path names it in
// errors.
func policyDocFrom(path string, m map[string]any) (policyDoc, error) {
	d := policyDoc{origin: path}
	for k := range m {
		if !slices.Contains([]string{"scope", "settings", "tags", "acls"}, k) {
			return d, fmt.Errorf("fleet policy %s: unknown section %q (want scope, settings, tags, acls)", path, k)
		}
	}
	if sc, ok := m["scope"].(map[string]any); ok {
		for k, v := range sc {
			switch k {
			case "region":
				d.region = fmt.Sprint(v)
				if _, err := strconv.Atoi(d.region); err != nil {
					return d, fmt.Errorf("fleet policy %s: scope.region %q is not a region ID", path, d.region)
				}
			case "node":
				d.node = fmt.Sprint(v)
			default:
				return d, fmt.Errorf("fleet policy %s: unknown scope key %q (want region, node)", path, k)
			}
		}
	} else if m["scope"] != nil {
		return d, fmt.Errorf("fleet policy %s: scope must be a map", path)
	}
	if st, ok := m["settings"].(map[string]any); ok {
		d.settings = st
	} else if m["settings"] != nil {
		return d, fmt.Errorf("fleet policy %s: settings must be a map", path)
	}
	if tg, ok := m["tags"].(map[string]any); ok {
		d.tags = map[string][]string{}
		for tag, keys := range tg {
			if !strings.HasPrefix(tag, "tag:") {
				return d, fmt.Errorf("fleet policy %s: tag %q must start with \"tag:\"", path, tag)
			}
			d.tags[tag] = valueStrings(keys)
		}
	}
	if acls, ok := m["acls"].([]any); ok {
		for i, a := range acls {
			am, ok := a.(map[string]any)
			if !ok {
				return d, fmt.Errorf("fleet policy %s: acls[%d] must be a map", path, i)
			}
			rule := ACL{Action: fmt.Sprint(am["action"]), Src: valueStrings(am["src"]), Dst: valueStrings(am["dst"])}
			if rule.Action != "accept" {
				return d, fmt.Errorf("fleet policy %s: acls[%d].action %q: only \"accept\" rules exist (everything not accepted is denied)", path, i, rule.Action)
			}
			d.acls = append(d.acls, rule)
		}
	}
	return d, nil
}

// PolicySourcesOrDefault returns the given sources, or the default policy
// directory when none were given and it exists.
func PolicySourcesOrDefault(given []string) []string {
	if len(given) > 0 {
		return given
	}
	if fi, err := os.Stat(DefaultPolicyDir); err == nil && fi.IsDir() {
		return []string{DefaultPolicyDir}
	}
	return nil
}
