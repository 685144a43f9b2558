package server

import (
	"fmt"
	"strings"

	"github.com/relayctl/relayctl/relay/key"
)

// AccessPolicy is the relay's built-in access control, in the spirit of
// tailnet ACLs: Tags name groups of node keys, and Rules say which
// sources may send to which destinations. With any tags, only keys in
// some tag may connect; with any rules, a packet is relayed only if a
// rule accepts it. Mesh peers are never restricted.
type AccessPolicy struct {
	Tags  map[string][]key.NodePublic
	Rules []AccessRule
}

// AccessRule accepts packets from any of Src to any of Dst. Entries are
// "tag:name", a "nodekey:…" key, or "*".
type AccessRule struct {
	Src, Dst []string
}

// accessPolicy is an AccessPolicy compiled for the packet path.
type accessPolicy struct {
	allowList bool                        // tags exist: only tagged keys connect
	keyTags   map[key.NodePublic][]string // key → its tags
	rules     []compiledRule              // empty: every packet allowed
}

type compiledRule struct {
	srcAny, dstAny   bool
	srcTags, dstTags map[string]bool
	srcKeys, dstKeys map[key.NodePublic]bool
}

func compileAccess(p *AccessPolicy) (*accessPolicy, error) {
	if p == nil || (len(p.Tags) == 0 && len(p.Rules) == 0) {
		return nil, nil
	}
	ap := &accessPolicy{allowList: len(p.Tags) > 0, keyTags: map[key.NodePublic][]string{}}
	for tag, keys := range p.Tags {
		if !strings.HasPrefix(tag, "tag:") {
			return nil, fmt.Errorf("access policy: tag %q must start with \"tag:\"", tag)
		}
		for _, k := range keys {
			ap.keyTags[k] = append(ap.keyTags[k], tag)
		}
	}
	for i, r := range p.Rules {
		cr := compiledRule{srcTags: map[string]bool{}, dstTags: map[string]bool{}, srcKeys: map[key.NodePublic]bool{}, dstKeys: map[key.NodePublic]bool{}}
		if err := compileSide(r.Src, &cr.srcAny, cr.srcTags, cr.srcKeys, p.Tags); err != nil {
			return nil, fmt.Errorf("access policy rule %d src: %w", i, err)
		}
		if err := compileSide(r.Dst, &cr.dstAny, cr.dstTags, cr.dstKeys, p.Tags); err != nil {
			return nil, fmt.Errorf("access policy rule %d dst: %w", i, err)
		}
		ap.rules = append(ap.rules, cr)
	}
	return ap, nil
}

func compileSide(entries []string, anyOf *bool, tags map[string]bool, keys map[key.NodePublic]bool, known map[string][]key.NodePublic) error {
	if len(entries) == 0 {
		return fmt.Errorf("no entries")
	}
	for _, e := range entries {
		switch {
		case e == "*":
			*anyOf = true
		case strings.HasPrefix(e, "tag:"):
			if _, ok := known[e]; !ok {
				return fmt.Errorf("unknown tag %q", e)
			}
			tags[e] = true
		default:
			k, err := key.ParseNodePublic(e)
			if err != nil {
				return fmt.Errorf("%q is not \"*\", a tag or a node key", e)
			}
			keys[k] = true
		}
	}
	return nil
}

// admits reports whether k may connect.
func (ap *accessPolicy) admits(k key.NodePublic) bool {
	if ap == nil || !ap.allowList {
		return true
	}
	_, ok := ap.keyTags[k]
	return ok
}

// allows reports whether a packet from src to dst may be relayed.
func (ap *accessPolicy) allows(src, dst key.NodePublic) bool {
	if ap == nil || len(ap.rules) == 0 {
		return true
	}
	for i := range ap.rules {
		r := &ap.rules[i]
		if r.matches(src, ap.keyTags[src], true) && r.matches(dst, ap.keyTags[dst], false) {
			return true
		}
	}
	return false
}

func (r *compiledRule) matches(k key.NodePublic, tags []string, src bool) bool {
	anyOf, tagSet, keySet := r.dstAny, r.dstTags, r.dstKeys
	if src {
		anyOf, tagSet, keySet = r.srcAny, r.srcTags, r.srcKeys
	}
	if anyOf || keySet[k] {
		return true
	}
	for _, t := range tags {
		if tagSet[t] {
			return true
		}
	}
	return false
}

// SetAccessPolicy puts p in force at once (nil removes it): connected
// clients that it no longer admits are disconnected, and later packets are
// checked against its rules. It returns how many clients were closed.
func (s *Server) SetAccessPolicy(p *AccessPolicy) (closed int, err error) {
	ap, err := compileAccess(p)
	if err != nil {
		return 0, err
	}
	s.access.Store(ap)
	s.mu.Lock()
	var victims []*sclient
	for c := range s.conns {
		if !c.canMesh && !ap.admits(c.key) {
			victims = append(victims, c)
		}
	}
	s.mu.Unlock()
	for _, c := range victims {
		c.logger.Info("closing connection: no longer admitted by the access policy")
		c.close()
	}
	return len(victims), nil
}
