package config

import (
	"fmt"
	"strings"
)

// aclSource says where a merged ACL rule was written.
type aclSource struct {
	origin string
	index  int
}

// checkACLs refuses rules that name a tag no policy document defines: the
// relay would drop every packet the rule was meant to accept. rules[i]
// is where p.ACLs[i] came from.
func checkACLs(p *Policy, rules []aclSource) error {
	for i, a := range p.ACLs {
		for _, side := range []struct {
			name    string
			entries []string
		}{{"src", a.Src}, {"dst", a.Dst}} {
			for _, e := range side.entries {
				where := fmt.Sprintf("fleet policy %s: acls[%d].%s", rules[i].origin, rules[i].index, side.name)
				switch {
				case e == "*", strings.HasPrefix(e, "nodekey:"):
				case strings.HasPrefix(e, "tag:"):
					if _, ok := p.Tags[e]; !ok {
						return fmt.Errorf("%s: tag %q is not defined in any policy's tags (the rule would accept nothing)", where, e)
					}
				default:
					return fmt.Errorf("%s: %q: want \"*\", a tag:name or a nodekey:", where, e)
				}
			}
		}
	}
	return nil
}

// checkTags refuses a tag member that is not a node key in Tailscale's
// text form, naming the policy file and tag (once tags from several files
// are merged, the file is no longer known).
func checkTags(d policyDoc) error {
	for tag, keys := range d.tags {
		for _, k := range keys {
			hexPart, ok := strings.CutPrefix(k, "nodekey:")
			if !ok || len(hexPart) != 64 || strings.Trim(hexPart, "0123456789abcdef") != "" {
				return fmt.Errorf("fleet policy %s: tags.%s: %q: want a node key, nodekey: and 64 lower-case hex digits (a client's public key)", d.origin, tag, k)
			}
		}
	}
	return nil
}
