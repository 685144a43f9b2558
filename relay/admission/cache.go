package admission

import (
	"context"
	"sync"
	"time"
)

// Cache defaults: long enough to absorb a reconnect storm, short enough
// that a node removed from the tailnet (or denied by the webhook) is
// turned away soon after.
const (
	DefaultAllowTTL   = 30 * time.Second
	DefaultDenyTTL    = 5 * time.Second
	DefaultCacheLimit = 10000
)

// CacheOptions tune Cached. Zero fields take the defaults; a negative TTL
// turns caching of that kind of answer off.
type CacheOptions struct {
	AllowTTL   time.Duration
	DenyTTL    time.Duration
	MaxEntries int
	// KeyOf names the cache slot of a request. Default: the node key
	// alone, right for checks whose answer ignores the source address.
	KeyOf func(Request) string
	Now   func() time.Time // for tests
}

// Cached wraps c with a short per-request answer cache. Only Allow and Deny
// are remembered: errors and unreachable backends are asked again, so a
// tailscaled that comes back is noticed at once. Concurrent requests for
// the same slot share one backend call.
func Cached(c Check, opts CacheOptions) Check {
	if opts.AllowTTL == 0 {
		opts.AllowTTL = DefaultAllowTTL
	}
	if opts.DenyTTL == 0 {
		opts.DenyTTL = DefaultDenyTTL
	}
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = DefaultCacheLimit
	}
	if opts.KeyOf == nil {
		opts.KeyOf = func(r Request) string { return r.Key.String() }
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &cachedCheck{inner: c, opts: opts, entries: map[string]cacheEntry{}, calls: map[string]*call{}}
}

// CacheKeyWithSource is a KeyOf for checks that see the source address.
func CacheKeyWithSource(r Request) string { return r.Key.String() + "|" + sourceString(r) }

type cachedCheck struct {
	inner Check
	opts  CacheOptions

	mu      sync.Mutex
	entries map[string]cacheEntry
	calls   map[string]*call // backend calls in flight
}

type cacheEntry struct {
	d       Decision
	expires time.Time
}

type call struct {
	done chan struct{}
	d    Decision
}

func (c *cachedCheck) Name() string { return c.inner.Name() }

func (c *cachedCheck) Check(ctx context.Context, r Request) Decision {
	slot := c.opts.KeyOf(r)
	c.mu.Lock()
	if e, ok := c.entries[slot]; ok {
		if c.opts.Now().Before(e.expires) {
			c.mu.Unlock()
			d := e.d
			d.Cached = true
			return d
		}
		delete(c.entries, slot)
	}
	cl, running := c.calls[slot]
	if !running {
		cl = &call{done: make(chan struct{})}
		c.calls[slot] = cl
	}
	c.mu.Unlock()

	if !running {
		// The shared call must not die with the first caller's context:
		// other callers wait on it. Checks bound their own time.
		go c.run(context.WithoutCancel(ctx), slot, r, cl)
	}
	select {
	case <-cl.done:
		return cl.d
	case <-ctx.Done():
		return reject(Error, ctx.Err())
	}
}

func (c *cachedCheck) run(ctx context.Context, slot string, r Request, cl *call) {
	cl.d = c.inner.Check(ctx, r)
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.calls, slot)
	if ttl := c.ttl(cl.d.Result); ttl > 0 {
		c.makeRoom()
		c.entries[slot] = cacheEntry{d: cl.d, expires: c.opts.Now().Add(ttl)}
	}
	close(cl.done)
}

func (c *cachedCheck) ttl(r Result) time.Duration {
	switch r {
	case Allow:
		return c.opts.AllowTTL
	case Deny:
		return c.opts.DenyTTL
	}
	return 0
}

// makeRoom keeps the cache under MaxEntries: expired entries go first;
// if that is not enough, a tenth of the rest, arbitrary ones (map order),
// so that a flood of fresh keys does not pay a full sweep per insert. A
// lost entry only costs a backend call later.
func (c *cachedCheck) makeRoom() {
	if len(c.entries) < c.opts.MaxEntries {
		return
	}
	now := c.opts.Now()
	for k, e := range c.entries {
		if !now.Before(e.expires) {
			delete(c.entries, k)
		}
	}
	if len(c.entries) < c.opts.MaxEntries {
		return
	}
	target := c.opts.MaxEntries - 1 - c.opts.MaxEntries/10
	for k := range c.entries {
		if len(c.entries) <= target {
			break
		}
		delete(c.entries, k)
	}
}

// Len is the number of cached answers, for tests.
func (c *cachedCheck) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
