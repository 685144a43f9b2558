package admission

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/relayctl/relayctl/relay/key"
)

// countingCheck answers with result and counts backend calls. When gate is
// set, each call waits for it.
type countingCheck struct {
	calls  atomic.Int64
	result atomic.Value // Result
	gate   chan struct{}
}

func newCountingCheck(r Result) *countingCheck {
	c := &countingCheck{}
	c.result.Store(r)
	return c
}

func (c *countingCheck) Name() string { return "fake" }

func (c *countingCheck) Check(ctx context.Context, r Request) Decision {
	c.calls.Add(1)
	if c.gate != nil {
		<-c.gate
	}
	res := c.result.Load().(Result)
	if res == Allow {
		return allow()
	}
	return reject(res, errors.New("fake says "+string(res)))
}

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeClock) Advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.mu.Unlock()
}

func TestCacheTTLs(t *testing.T) {
	tests := []struct {
		name      string
		result    Result
		ttl       time.Duration // 0: never cached
		wantCache bool
	}{
		{"allow_cached_30s", Allow, DefaultAllowTTL, true},
		{"deny_cached_5s", Deny, DefaultDenyTTL, true},
		{"error_not_cached", Error, 0, false},
		{"unreachable_not_cached", Unreachable, 0, false},
		{"fail_open_not_cached", FailOpen, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock := &fakeClock{now: time.Unix(1e9, 0)}
			inner := newCountingCheck(tc.result)
			c := Cached(inner, CacheOptions{Now: clock.Now})
			req := Request{Key: key.NewNode().Public()}

			first := c.Check(t.Context(), req)
			if first.Result != tc.result || first.Cached {
				t.Fatalf("first answer %+v, want %q uncached", first, tc.result)
			}
			second := c.Check(t.Context(), req)
			if second.Result != tc.result {
				t.Fatalf("second answer %q, want %q", second.Result, tc.result)
			}
			wantCalls := map[bool]int64{true: 1, false: 2}[tc.wantCache]
			if got := inner.calls.Load(); got != wantCalls || second.Cached != tc.wantCache {
				t.Fatalf("backend calls %d cached=%v, want %d cached=%v", got, second.Cached, wantCalls, tc.wantCache)
			}
			if !tc.wantCache {
				return
			}
			clock.Advance(tc.ttl - time.Millisecond)
			c.Check(t.Context(), req)
			if got := inner.calls.Load(); got != 1 {
				t.Fatalf("just before expiry: %d backend calls, want 1", got)
			}
			clock.Advance(time.Millisecond)
			if d := c.Check(t.Context(), req); d.Cached {
				t.Fatal("answer still cached at expiry")
			}
			if got := inner.calls.Load(); got != 2 {
				t.Fatalf("after expiry: %d backend calls, want 2", got)
			}
		})
	}
}

func TestCacheKeysAreSeparate(t *testing.T) {
	inner := newCountingCheck(Allow)
	bySource := Cached(inner, CacheOptions{KeyOf: CacheKeyWithSource})
	k := key.NewNode().Public()
	a := Request{Key: k, Source: netip.MustParseAddr("192.0.2.1")}
	b := Request{Key: k, Source: netip.MustParseAddr("192.0.2.2")}
	bySource.Check(t.Context(), a)
	bySource.Check(t.Context(), b)
	bySource.Check(t.Context(), a)
	bySource.Check(t.Context(), Request{Key: key.NewNode().Public(), Source: a.Source})
	if got := inner.calls.Load(); got != 3 {
		t.Fatalf("%d backend calls, want 3 (one per key and source)", got)
	}
}

// TestCacheCoalescesStorm: many concurrent connections of one key cause a
// single backend call, and all of them get its answer.
func TestCacheCoalescesStorm(t *testing.T) {
	inner := newCountingCheck(Deny)
	inner.gate = make(chan struct{})
	c := Cached(inner, CacheOptions{})
	req := Request{Key: key.NewNode().Public()}

	const n = 50
	results := make(chan Decision, n)
	for range n {
		go func() { results <- c.Check(t.Context(), req) }()
	}
	deadline := time.Now().Add(5 * time.Second)
	for inner.calls.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("backend never called")
		}
		time.Sleep(time.Millisecond)
	}
	close(inner.gate)
	for range n {
		if d := <-results; d.Result != Deny {
			t.Fatalf("got %q, want deny", d.Result)
		}
	}
	if got := inner.calls.Load(); got != 1 {
		t.Fatalf("%d backend calls for %d concurrent requests, want 1", got, n)
	}
}

// TestCacheWaiterGivesUp: a caller whose context ends stops waiting; the
// shared call still completes and fills the cache for the next caller.
func TestCacheWaiterGivesUp(t *testing.T) {
	inner := newCountingCheck(Allow)
	inner.gate = make(chan struct{})
	c := Cached(inner, CacheOptions{})
	req := Request{Key: key.NewNode().Public()}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if d := c.Check(ctx, req); d.Result != Error || !errors.Is(d.Reason, context.Canceled) {
		t.Fatalf("cancelled caller got %+v, want an error", d)
	}
	close(inner.gate)
	deadline := time.Now().Add(5 * time.Second)
	for c.(*cachedCheck).Len() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the shared call never filled the cache")
		}
		time.Sleep(time.Millisecond)
	}
	if d := c.Check(t.Context(), req); d.Result != Allow || !d.Cached {
		t.Fatalf("next caller got %+v, want a cached allow", d)
	}
}

func TestCacheBounded(t *testing.T) {
	inner := newCountingCheck(Allow)
	c := Cached(inner, CacheOptions{MaxEntries: 100})
	for range 1000 {
		c.Check(t.Context(), Request{Key: key.NewNode().Public()})
		if n := c.(*cachedCheck).Len(); n > 100 {
			t.Fatalf("cache holds %d entries, limit 100", n)
		}
	}
	if n := c.(*cachedCheck).Len(); n < 50 {
		t.Fatalf("cache holds only %d entries after 1000 keys; eviction too eager", n)
	}
}

func TestCacheDisabledByNegativeTTL(t *testing.T) {
	inner := newCountingCheck(Allow)
	c := Cached(inner, CacheOptions{AllowTTL: -1})
	req := Request{Key: key.NewNode().Public()}
	c.Check(t.Context(), req)
	c.Check(t.Context(), req)
	if got := inner.calls.Load(); got != 2 {
		t.Fatalf("%d backend calls, want 2 with caching off", got)
	}
}
