package web

import (
	"context"
	"encoding/json"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/relayctl/relayctl/internal/metrics"
)

const (
	bootstrapDNSRefreshInterval = 10 * time.Minute
	bootstrapDNSLookupTimeout   = time.Minute
	// maxQueriedDomains bounds the set behind bootstrap_dns_queried_domains,
	// which clients fill with whatever q they send; maxDNSName (the longest
	// DNS name) bounds each entry, so the set holds at most ~125 KiB.
	maxQueriedDomains = 500
	maxDNSName        = 253
)

// bootstrapDNS serves /bootstrap-dns: the addresses of the published names,
// which clients use when their own DNS is broken (to reach the control
// plane, for instance). Answers come from a cache refreshed in the
// background, never from a lookup per request.
type bootstrapDNS struct {
	names    []string
	resolver Resolver
	logger   *slog.Logger

	answer atomic.Pointer[bootstrapAnswer]

	// unpublished names are answered only to ?q= (nil: none); trusted
	// proxies may name the client, whose address picks its rollout.
	unpublished *unpublishedDNS
	trusted     TrustedProxies

	queriedMu sync.Mutex
	queried   map[string]struct{}

	requests, publishedHits, publishedMisses, unpublishedMisses, refused *metrics.Counter
}

// bootstrapAnswer is one refresh's result: the resolved names (failed ones
// left out) and their JSON encoding, built once per refresh.
type bootstrapAnswer struct {
	ips  map[string][]net.IP
	json []byte
}

func newBootstrapDNS(names []string, resolver Resolver, reg *metrics.Registry, logger *slog.Logger) *bootstrapDNS {
	d := &bootstrapDNS{
		names:    cleanNames(names),
		resolver: resolver,
		logger:   logger,
		queried:  map[string]struct{}{},

		requests:          reg.Counter("bootstrap_dns_requests", "Requests to /bootstrap-dns."),
		publishedHits:     reg.Counter("bootstrap_dns_published_hits", "?q= queries for a published name that has addresses."),
		publishedMisses:   reg.Counter("bootstrap_dns_published_misses", "?q= queries for a published name that did not resolve."),
		unpublishedMisses: reg.Counter("bootstrap_dns_unpublished_misses", "?q= queries for a name this node does not publish."),
		refused:           reg.Counter("relayctl_bootstrap_dns_refused", "?q= queries refused with 400: a name longer than 253 bytes."),
	}
	if !reg.Has("bootstrap_dns_queried_domains") {
		reg.CounterFunc("bootstrap_dns_queried_domains", "Distinct names seen in ?q= (the set is cleared at 500).", func() float64 {
			d.queriedMu.Lock()
			defer d.queriedMu.Unlock()
			return float64(len(d.queried))
		})
	}
	d.answer.Store(encodeBootstrapAnswer(map[string][]net.IP{}))
	return d
}

// cleanNames accepts a flag value split on commas, possibly with blanks and
// repeats.
func cleanNames(names []string) []string {
	var out []string
	for _, n := range names {
		n = strings.TrimSpace(n)
		if n != "" && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// run refreshes the cache now and then every interval until ctx ends. With
// no names there is nothing to refresh.
func (d *bootstrapDNS) run(ctx context.Context, interval time.Duration) {
	if len(d.names) == 0 && d.unpublished == nil {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		d.refresh(ctx)
		d.unpublished.refresh(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// refresh resolves every name. A name that fails is left out of the new
// answer (and logged); the others replace the previous answer.
func (d *bootstrapDNS) refresh(parent context.Context) {
	ctx, cancel := context.WithTimeout(parent, bootstrapDNSLookupTimeout)
	defer cancel()
	ips := make(map[string][]net.IP, len(d.names))
	for _, name := range d.names {
		addrs, err := d.resolver.LookupIP(ctx, "ip", name)
		if err != nil {
			if parent.Err() == nil {
				d.logger.Warn("bootstrap DNS lookup failed", "name", name, "err", err)
			}
			continue
		}
		if len(addrs) == 0 {
			continue
		}
		// Shuffled once per refresh, so clients that take the first
		// address do not all pile onto one, nor always prefer IPv6.
		addrs = slices.Clone(addrs)
		rand.Shuffle(len(addrs), func(i, j int) { addrs[i], addrs[j] = addrs[j], addrs[i] })
		ips[name] = addrs
	}
	if parent.Err() != nil {
		return // shutting down: keep the previous answer
	}
	d.answer.Store(encodeBootstrapAnswer(ips))
}

func encodeBootstrapAnswer(ips map[string][]net.IP) *bootstrapAnswer {
	// A map of names to IP slices always encodes; net.IP marshals as text.
	j, _ := json.MarshalIndent(ips, "", "\t")
	return &bootstrapAnswer{ips: ips, json: j}
}

// ServeHTTP answers a ?q= for an unpublished name with that name alone (to
// clients in its rollout); otherwise with every published name, whatever q
// asks for. q also feeds the hit/miss counters, which tell an operator
// what clients look for.
func (d *bootstrapDNS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	d.requests.Inc()
	w.Header().Set("Content-Type", "application/json")
	// Clients ask rarely and from far away; an idle keep-alive connection
	// would only hold a socket.
	w.Header().Set("Connection", "close")

	q := r.URL.Query().Get("q")
	if len(q) > maxDNSName {
		d.refused.Inc()
		http.Error(w, "q: a DNS name is at most 253 bytes", http.StatusBadRequest)
		return
	}
	a := d.answer.Load()
	if q != "" {
		d.noteQueried(q)
		client := d.trusted.ClientAddr(r, remoteAddrPort(nil, r.RemoteAddr)).Addr()
		if body, ok := d.unpublished.lookup(q, client); ok {
			w.Write(body)
			return
		}
		switch {
		case len(a.ips[q]) > 0:
			d.publishedHits.Inc()
		case slices.Contains(d.names, q):
			d.publishedMisses.Inc()
		default:
			d.unpublishedMisses.Inc()
		}
	}
	w.Write(a.json)
}

func (d *bootstrapDNS) noteQueried(q string) {
	d.queriedMu.Lock()
	defer d.queriedMu.Unlock()
	d.queried[q] = struct{}{}
	if len(d.queried) > maxQueriedDomains {
		clear(d.queried)
	}
}
