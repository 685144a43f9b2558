package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/relayctl/relayctl/internal/metrics"
)

// getBootstrapDNS fetches /bootstrap-dns (with ?q= if q is set) and decodes
// it the way Tailscale clients do.
func getBootstrapDNS(t *testing.T, h http.Handler, q string) (raw string, answer map[string][]string) {
	t.Helper()
	target := "/bootstrap-dns"
	if q != "" {
		target += "?q=" + q
	}
	w := serve(h, "GET", target, remoteRemote, nil)
	if w.Code != 200 {
		t.Fatalf("GET %s: status %d", target, w.Code)
	}
	if err := json.Unmarshal(w.Body.Bytes(), &answer); err != nil {
		t.Fatalf("GET %s: body %q is not a JSON object: %v", target, w.Body, err)
	}
	return w.Body.String(), answer
}

func TestBootstrapDNSAnswer(t *testing.T) {
	tests := []struct {
		name    string
		names   []string
		answers map[string][]net.IP
		want    map[string][]string
		wantRaw string // exact body, when set
	}{
		{name: "no-names", want: map[string][]string{}, wantRaw: "{}"},
		{name: "one-name", names: []string{"login.example.com"},
			answers: map[string][]net.IP{"login.example.com": ips("192.0.2.1")},
			want:    map[string][]string{"login.example.com": {"192.0.2.1"}},
			wantRaw: "{\n\t\"login.example.com\": [\n\t\t\"192.0.2.1\"\n\t]\n}"},
		{name: "failing-name-left-out", names: []string{"good.example.com", "bad.example.com"},
			answers: map[string][]net.IP{"good.example.com": ips("192.0.2.1", "2001:db8::1")},
			want:    map[string][]string{"good.example.com": {"192.0.2.1", "2001:db8::1"}}},
		{name: "all-fail", names: []string{"bad.example.com"}, want: map[string][]string{}, wantRaw: "{}"},
		{name: "empty-answer-left-out", names: []string{"empty.example.com"},
			answers: map[string][]net.IP{"empty.example.com": {}}, want: map[string][]string{}, wantRaw: "{}"},
		{name: "blanks-and-repeats", names: []string{" a.example.com ", "", "a.example.com"},
			answers: map[string][]net.IP{"a.example.com": ips("192.0.2.7")},
			want:    map[string][]string{"a.example.com": {"192.0.2.7"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				res := &fakeResolver{answers: tt.answers}
				h := newTestHandler(t, Options{BootstrapDNSNames: tt.names, Resolver: res})
				synctest.Wait() // the first refresh, started by NewHandler
				raw, got := getBootstrapDNS(t, h, "")
				for _, v := range got {
					slices.Sort(v)
				}
				if fmt.Sprint(got) != fmt.Sprint(tt.want) {
					t.Errorf("answer %v, want %v", got, tt.want)
				}
				if tt.wantRaw != "" && raw != tt.wantRaw {
					t.Errorf("body %q, want %q", raw, tt.wantRaw)
				}
				if n := res.lookupCount(); n != len(cleanNames(tt.names)) {
					t.Errorf("%d lookups, want one per distinct name (%d)", n, len(cleanNames(tt.names)))
				}
			})
		})
	}
}

// The cache is refreshed every 10 minutes, not sooner, and serves the
// previous answer until then.
func TestBootstrapDNSRefresh(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		res := &fakeResolver{answers: map[string][]net.IP{"a.example.com": ips("192.0.2.1")}}
		h := newTestHandler(t, Options{BootstrapDNSNames: []string{"a.example.com", "b.example.com"}, Resolver: res})
		synctest.Wait()
		want := func(when string, expect map[string][]string) {
			t.Helper()
			if _, got := getBootstrapDNS(t, h, ""); fmt.Sprint(got) != fmt.Sprint(expect) {
				t.Errorf("%s: answer %v, want %v", when, got, expect)
			}
		}
		want("at start", map[string][]string{"a.example.com": {"192.0.2.1"}})

		res.set(map[string][]net.IP{"b.example.com": ips("192.0.2.2")})
		time.Sleep(10*time.Minute - time.Second)
		synctest.Wait()
		want("just before 10m", map[string][]string{"a.example.com": {"192.0.2.1"}})

		time.Sleep(time.Second)
		synctest.Wait()
		want("at 10m", map[string][]string{"b.example.com": {"192.0.2.2"}})
		if n := res.lookupCount(); n != 4 {
			t.Errorf("%d lookups after two refreshes of two names, want 4", n)
		}
	})
}

// A lookup that hangs is abandoned after a minute; the name is left out and
// the failure is logged once.
func TestBootstrapDNSLookupTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs bytes.Buffer
		res := &fakeResolver{blockUntilDone: true}
		h := newTestHandler(t, Options{
			BootstrapDNSNames: []string{"slow.example.com"},
			Resolver:          res,
			Logger:            slog.New(slog.NewTextHandler(&logs, nil)),
		})
		synctest.Wait()
		start := time.Now()
		time.Sleep(bootstrapDNSLookupTimeout)
		synctest.Wait()
		if raw, _ := getBootstrapDNS(t, h, ""); raw != "{}" {
			t.Errorf("body %q, want {}", raw)
		}
		if elapsed := time.Since(start); elapsed != time.Minute {
			t.Errorf("timeout after %v, want 1m", elapsed)
		}
		if got := strings.Count(logs.String(), "bootstrap DNS lookup failed"); got != 1 {
			t.Errorf("%d failure log lines, want 1:\n%s", got, logs.String())
		}
		if !strings.Contains(logs.String(), "name=slow.example.com") {
			t.Errorf("log does not name the host:\n%s", logs.String())
		}
	})
}

// Each refresh shuffles the address list, without touching the resolver's
// slice.
func TestBootstrapDNSShuffle(t *testing.T) {
	var addrs []net.IP
	var inOrder []string
	for i := range 20 {
		addrs = append(addrs, net.IPv4(192, 0, 2, byte(i+1)))
		inOrder = append(inOrder, fmt.Sprintf("192.0.2.%d", i+1))
	}
	original := slices.Clone(addrs)
	res := &fakeResolver{answers: map[string][]net.IP{"many.example.com": addrs}}
	d := newBootstrapDNS([]string{"many.example.com"}, res, metrics.NewRegistry(), slog.New(slog.DiscardHandler))

	// With 20! orders, ten refreshes all keeping the input order would mean
	// no shuffle at all.
	shuffled := false
	for range 10 {
		d.refresh(t.Context())
		_, got := getBootstrapDNS(t, d, "")
		list := got["many.example.com"]
		if !slices.Equal(list, inOrder) {
			shuffled = true
		}
		sorted := slices.Clone(list)
		slices.SortFunc(sorted, func(a, b string) int { return int(net.ParseIP(a).To4()[3]) - int(net.ParseIP(b).To4()[3]) })
		if !slices.Equal(sorted, inOrder) {
			t.Fatalf("answer %v is not a permutation of %v", list, inOrder)
		}
	}
	if !shuffled {
		t.Error("ten refreshes all returned the resolver's order")
	}
	for i := range addrs {
		if !addrs[i].Equal(original[i]) {
			t.Fatalf("resolver's slice was reordered: %v", addrs)
		}
	}
}

// ?q= never narrows the answer (there are no unpublished names); it only
// feeds the counters.
func TestBootstrapDNSQueryCounters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := metrics.NewRegistry()
		res := &fakeResolver{answers: map[string][]net.IP{"a.example.com": ips("192.0.2.1")}}
		h := newTestHandler(t, Options{
			BootstrapDNSNames: []string{"a.example.com", "down.example.com"},
			Resolver:          res,
			Metrics:           reg,
		})
		synctest.Wait()
		full, _ := getBootstrapDNS(t, h, "")
		for _, q := range []string{"a.example.com", "a.example.com", "down.example.com", "other.example.com", ""} {
			if raw, _ := getBootstrapDNS(t, h, q); raw != full {
				t.Errorf("?q=%s: body %q, want the published answer %q", q, raw, full)
			}
		}
		counters := map[string]int64{
			"bootstrap_dns_requests":           6,
			"bootstrap_dns_published_hits":     2,
			"bootstrap_dns_published_misses":   1,
			"bootstrap_dns_unpublished_misses": 1,
		}
		for name, want := range counters {
			if got := reg.Counter(name, "").Value(); got != want {
				t.Errorf("%s = %d, want %d", name, got, want)
			}
		}
		if page := scrape(t, reg); !strings.Contains(page, "\nbootstrap_dns_queried_domains 3\n") {
			t.Errorf("want bootstrap_dns_queried_domains 3 in:\n%s", page)
		}
	})
}

func TestBootstrapDNSQueriedDomainsCap(t *testing.T) {
	reg := metrics.NewRegistry()
	d := newBootstrapDNS(nil, &fakeResolver{}, reg, slog.New(slog.DiscardHandler))
	queried := func() string {
		page := scrape(t, reg)
		i := strings.Index(page, "\nbootstrap_dns_queried_domains ")
		if i < 0 {
			t.Fatalf("no bootstrap_dns_queried_domains in:\n%s", page)
		}
		return strings.SplitN(page[i+1:], "\n", 2)[0]
	}
	for i := range maxQueriedDomains {
		getBootstrapDNS(t, d, fmt.Sprintf("n%d.example.com", i))
	}
	getBootstrapDNS(t, d, "n0.example.com") // already counted
	if got := queried(); got != "bootstrap_dns_queried_domains 500" {
		t.Errorf("after 500 names: %q", got)
	}
	getBootstrapDNS(t, d, "one-more.example.com")
	if got := queried(); got != "bootstrap_dns_queried_domains 0" {
		t.Errorf("after the 501st name: %q, want the set cleared", got)
	}
}

// Close stops the refresher, also in the middle of a lookup, and keeps the
// last answer. synctest.Test itself fails if any goroutine the handler
// started is still running when the function returns.
func TestCloseStopsBackgroundWork(t *testing.T) {
	tests := []struct {
		name  string
		names []string
		block bool
	}{
		{name: "no-names"},
		{name: "idle", names: []string{"a.example.com"}},
		{name: "mid-lookup", names: []string{"a.example.com"}, block: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				res := &fakeResolver{answers: map[string][]net.IP{"a.example.com": ips("192.0.2.1")}}
				h, err := NewHandler(Options{BootstrapDNSNames: tt.names, Resolver: res})
				if err != nil {
					t.Fatal(err)
				}
				synctest.Wait()
				before, _ := getBootstrapDNS(t, h, "")
				if tt.block {
					res.mu.Lock()
					res.blockUntilDone = true
					res.mu.Unlock()
					time.Sleep(bootstrapDNSRefreshInterval)
					synctest.Wait() // the second refresh is now waiting on the resolver
				}
				lookups := res.lookupCount()
				start := time.Now()
				if err := h.Close(); err != nil {
					t.Fatalf("Close: %v", err)
				}
				if waited := time.Since(start); waited != 0 {
					t.Errorf("Close waited %v of fake time, want it immediate", waited)
				}
				if err := h.Close(); err != nil {
					t.Fatalf("second Close: %v", err)
				}
				if after, _ := getBootstrapDNS(t, h, ""); after != before {
					t.Errorf("answer after Close %q, want the last one %q", after, before)
				}
				time.Sleep(3 * bootstrapDNSRefreshInterval)
				if n := res.lookupCount(); n != lookups {
					t.Errorf("%d lookups after Close, want none", n-lookups)
				}
			})
		})
	}
}

// TestBootstrapDNSRefusesLongNames: a q longer than any DNS name is
// refused and not remembered, so the queried set stays small whatever
// clients send (it once held 500 names of up to 1 MB each).
func TestBootstrapDNSRefusesLongNames(t *testing.T) {
	reg := metrics.NewRegistry()
	d := newBootstrapDNS(nil, &fakeResolver{}, reg, slog.New(slog.DiscardHandler))
	long := strings.Repeat("a", maxDNSName+1)
	if w := serve(d, "GET", "/bootstrap-dns?q="+long, remoteRemote, nil); w.Code != http.StatusBadRequest {
		t.Fatalf("q of %d bytes: status %d, want 400", len(long), w.Code)
	}
	getBootstrapDNS(t, d, strings.Repeat("b", maxDNSName)) // the longest name is fine
	d.queriedMu.Lock()
	n := len(d.queried)
	_, kept := d.queried[long]
	d.queriedMu.Unlock()
	if n != 1 || kept {
		t.Fatalf("queried set has %d names (long one kept: %v), want only the valid one", n, kept)
	}
	if got := reg.Counter("relayctl_bootstrap_dns_refused", "").Value(); got != 1 {
		t.Fatalf("relayctl_bootstrap_dns_refused = %d, want 1", got)
	}
}
