package web

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/relayctl/relayctl/internal/metrics"
)

// unpublishedDNS holds the names /bootstrap-dns answers only when a client
// asks for one by name (?q=), never in the full list: derper's
// --unpublished-bootstrap-dns-names. A name may carry a rollout: "name/record"
// answers only the share of clients given, in percent (0 to 100), by the
// TXT record "record".
type unpublishedDNS struct {
	names    []unpublishedName
	resolver Resolver
	logger   *slog.Logger
	answer   atomic.Pointer[unpublishedAnswer]

	hits, percentMisses *metrics.Counter
}

type unpublishedName struct {
	name, rolloutRecord string
}

// unpublishedAnswer is one refresh's result. A name missing from percent
// is answered to nobody (derper's rule for a missing or malformed TXT).
type unpublishedAnswer struct {
	ips     map[string][]net.IP
	percent map[string]float64 // 0 to 1
}

// TXTResolver is what a rollout record needs beyond Resolver;
// *net.Resolver has it.
type TXTResolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
}

// newUnpublishedDNS returns nil when there are no names.
func newUnpublishedDNS(list []string, resolver Resolver, reg *metrics.Registry, logger *slog.Logger) *unpublishedDNS {
	var names []unpublishedName
	for _, e := range cleanNames(list) {
		name, record, _ := strings.Cut(e, "/")
		names = append(names, unpublishedName{name: name, rolloutRecord: record})
	}
	if len(names) == 0 {
		return nil
	}
	u := &unpublishedDNS{
		names:         names,
		resolver:      resolver,
		logger:        logger,
		hits:          reg.Counter("bootstrap_dns_unpublished_hits", "?q= queries for an unpublished name that has addresses."),
		percentMisses: reg.Counter("bootstrap_dns_unpublished_percent_misses", "?q= queries for an unpublished name from a client outside its rollout percentage."),
	}
	u.answer.Store(&unpublishedAnswer{})
	return u
}

// refresh resolves every name and its rollout record. A name that fails
// is left out; a rollout record that fails or holds no number from 0 to
// 100 leaves its name answered to nobody.
func (u *unpublishedDNS) refresh(parent context.Context) {
	if u == nil {
		return
	}
	ctx, cancel := context.WithTimeout(parent, bootstrapDNSLookupTimeout)
	defer cancel()
	a := &unpublishedAnswer{ips: map[string][]net.IP{}, percent: map[string]float64{}}
	for _, n := range u.names {
		addrs, err := u.resolver.LookupIP(ctx, "ip", n.name)
		if err != nil {
			u.logFailure(parent, n.name, err)
			continue
		}
		a.ips[n.name] = addrs
		if n.rolloutRecord == "" {
			a.percent[n.name] = 1
			continue
		}
		txt, ok := u.resolver.(TXTResolver)
		if !ok {
			continue
		}
		vals, err := txt.LookupTXT(ctx, n.rolloutRecord)
		if err != nil {
			u.logFailure(parent, n.rolloutRecord, err)
			continue
		}
		for _, v := range vals {
			if p, err := strconv.Atoi(v); err == nil && p >= 0 && p <= 100 {
				a.percent[n.name] = float64(p) / 100
			}
		}
	}
	if parent.Err() != nil {
		return
	}
	u.answer.Store(a)
}

func (u *unpublishedDNS) logFailure(parent context.Context, name string, err error) {
	if parent.Err() == nil {
		u.logger.Warn("bootstrap DNS lookup failed", "name", name, "err", err, "unpublished", true)
	}
}

// lookup answers q for client when q is an unpublished name with
// addresses and client falls in its rollout.
func (u *unpublishedDNS) lookup(q string, client netip.Addr) ([]byte, bool) {
	if u == nil {
		return nil, false
	}
	a := u.answer.Load()
	addrs := a.ips[q]
	if len(addrs) == 0 {
		return nil, false
	}
	u.hits.Inc()
	if !inRollout(client, a.percent[q]) {
		u.percentMisses.Inc()
		return nil, false
	}
	j, err := json.MarshalIndent(map[string][]net.IP{q: addrs}, "", "\t")
	return j, err == nil
}

// inRollout is derper's rule, so that a client gets the same answer from
// every node of a mixed fleet: a client is in when a PCG generator seeded
// with the two little-endian halves of its 16-byte address draws a number
// below percent. A loopback client (local testing) is in half the time.
func inRollout(client netip.Addr, percent float64) bool {
	switch {
	case percent <= 0:
		return false
	case percent >= 1:
		return true
	case !client.IsValid():
		return false
	case client.IsLoopback():
		return rand.Float64() < 0.5
	}
	b := client.As16()
	rnd := rand.New(rand.NewPCG(binary.LittleEndian.Uint64(b[:8]), binary.LittleEndian.Uint64(b[8:])))
	return percent > rnd.Float64()
}
