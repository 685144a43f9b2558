package node

import (
	"fmt"
	"log/slog"
	"slices"

	"github.com/relayctl/relayctl/config"
	"github.com/relayctl/relayctl/relay/key"
	"github.com/relayctl/relayctl/relay/server"
)

// accessPolicyFrom turns fleet policy's tags and ACLs into the relay's
// access policy; nil when the policy has none.
func accessPolicyFrom(p *config.Policy) (*server.AccessPolicy, error) {
	if p == nil || (len(p.Tags) == 0 && len(p.ACLs) == 0) {
		return nil, nil
	}
	ap := &server.AccessPolicy{Tags: map[string][]key.NodePublic{}}
	for tag, keys := range p.Tags {
		for _, s := range keys {
			k, err := key.ParseNodePublic(s)
			if err != nil {
				return nil, fmt.Errorf("fleet policy tags %s: %w", tag, err)
			}
			ap.Tags[tag] = append(ap.Tags[tag], k)
		}
		if ap.Tags[tag] == nil {
			ap.Tags[tag] = []key.NodePublic{}
		}
	}
	for _, a := range p.ACLs {
		ap.Rules = append(ap.Rules, server.AccessRule{Src: a.Src, Dst: a.Dst})
	}
	return ap, nil
}

// sameAccess reports whether two policies have the same tags and ACLs, so
// an unrelated change does not re-check every connection.
func sameAccess(a, b *config.Policy) bool {
	if (a == nil) != (b == nil) {
		return false
	}
	if a == nil {
		return true
	}
	if len(a.Tags) != len(b.Tags) || len(a.ACLs) != len(b.ACLs) {
		return false
	}
	for t, ks := range a.Tags {
		if !slices.Equal(ks, b.Tags[t]) {
			return false
		}
	}
	for i := range a.ACLs {
		if a.ACLs[i].Action != b.ACLs[i].Action || !slices.Equal(a.ACLs[i].Src, b.ACLs[i].Src) || !slices.Equal(a.ACLs[i].Dst, b.ACLs[i].Dst) {
			return false
		}
	}
	return true
}

// applyAccessPolicy puts the fleet policy's tags and ACLs in force; a
// policy that does not compile is logged and the previous one stays.
func applyAccessPolicy(logger *slog.Logger, relay *server.Server, p *config.Policy) {
	ap, err := accessPolicyFrom(p)
	if err == nil {
		var closed int
		closed, err = relay.SetAccessPolicy(ap)
		if err == nil {
			if ap != nil {
				logger.Info("access policy in force", "tags", len(ap.Tags), "rules", len(ap.Rules), "disconnected", closed)
			}
			return
		}
	}
	logger.Error("access policy rejected; the previous one stays in force", "err", err)
}
