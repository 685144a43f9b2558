package web

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"testing"
	"testing/synctest"

	"github.com/relayctl/relayctl/internal/metrics"
)

// The rollout rule is derper's: these answers were computed with derper
// v1.102.5's own function (cmd/derper/bootstrap_dns.go) for the same
// addresses, so a client gets the same answer from both servers.
func TestInRolloutMatchesDerper(t *testing.T) {
	tests := []struct {
		ip               string
		at25, at50, at75 bool
	}{
		{"192.0.2.10", false, false, false},
		{"198.51.100.7", false, true, true},
		{"203.0.113.200", false, false, false},
		{"2001:db8::1", true, true, true},
		{"2001:db8::2", true, true, true},
		{"100.64.0.1", true, true, true},
		{"8.8.8.8", false, true, true},
		{"1.1.1.1", false, false, true},
	}
	for _, tt := range tests {
		ip := netip.MustParseAddr(tt.ip)
		for _, c := range []struct {
			percent float64
			want    bool
		}{{0, false}, {0.25, tt.at25}, {0.5, tt.at50}, {0.75, tt.at75}, {1, true}} {
			if got := inRollout(ip, c.percent); got != c.want {
				t.Errorf("inRollout(%s, %v) = %v, want %v (derper's answer)", ip, c.percent, got, c.want)
			}
		}
	}
	if inRollout(netip.Addr{}, 0.5) {
		t.Error("an unknown client address is in a partial rollout")
	}
	// Loopback is a coin toss in derper ("for local testing").
	seen := map[bool]bool{}
	for range 200 {
		seen[inRollout(netip.MustParseAddr("127.0.0.1"), 0.5)] = true
	}
	if !seen[true] || !seen[false] {
		t.Errorf("loopback at 50%%: outcomes %v, want both", seen)
	}
}

// Unpublished names against a real DNS server (A, AAAA, TXT through Go's
// resolver): answered only to ?q=, alone, and only inside the rollout.
func TestUnpublishedBootstrapDNS(t *testing.T) {
	dns := startDNSServer(t)
	dns.setIPs("pub.example.com", "192.0.2.1")
	dns.setIPs("hidden.example.com", "192.0.2.2", "2001:db8::2")
	dns.setIPs("half.example.com", "192.0.2.3")
	dns.setTXT("half-rollout.example.com", "50")
	dns.setIPs("all.example.com", "192.0.2.4")
	dns.setTXT("all-rollout.example.com", "100")
	dns.setIPs("none.example.com", "192.0.2.5")
	dns.setTXT("none-rollout.example.com", "0")
	dns.setIPs("junk.example.com", "192.0.2.6")
	dns.setTXT("junk-rollout.example.com", "fifty", "101")
	dns.setIPs("norecord.example.com", "192.0.2.7") // its TXT name does not exist

	reg := metrics.NewRegistry()
	logger := slog.New(slog.DiscardHandler)
	d := newBootstrapDNS([]string{"pub.example.com"}, dns.resolver(), reg, logger)
	d.unpublished = newUnpublishedDNS([]string{"hidden.example.com", "half.example.com/half-rollout.example.com",
		"all.example.com/all-rollout.example.com", "none.example.com/none-rollout.example.com",
		"junk.example.com/junk-rollout.example.com", "norecord.example.com/missing.example.com", "gone.example.com"}, dns.resolver(), reg, logger)
	d.trusted = TrustedProxies{netip.MustParsePrefix("127.0.0.1/32")}
	d.refresh(t.Context())
	d.unpublished.refresh(t.Context())

	published := `{"pub.example.com":["192.0.2.1"]}`
	in, out := "198.51.100.7:4000", "192.0.2.10:4000" // 50%: in and out of the rollout (see TestInRolloutMatchesDerper)
	tests := []struct {
		q, remote, xff string
		want           string
	}{
		{q: "", remote: in, want: published},
		{q: "hidden.example.com", remote: out, want: `{"hidden.example.com":["192.0.2.2","2001:db8::2"]}`},
		{q: "pub.example.com", remote: in, want: published},
		{q: "half.example.com", remote: in, want: `{"half.example.com":["192.0.2.3"]}`},
		{q: "half.example.com", remote: out, want: published},
		{q: "half.example.com", remote: "127.0.0.1:4000", xff: "198.51.100.7", want: `{"half.example.com":["192.0.2.3"]}`},
		{q: "all.example.com", remote: out, want: `{"all.example.com":["192.0.2.4"]}`},
		{q: "none.example.com", remote: in, want: published},
		{q: "junk.example.com", remote: in, want: published},
		{q: "norecord.example.com", remote: in, want: published},
		{q: "gone.example.com", remote: in, want: published},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("q=%s from %s %s", tt.q, tt.remote, tt.xff), func(t *testing.T) {
			target := "/bootstrap-dns"
			if tt.q != "" {
				target += "?q=" + tt.q
			}
			var header map[string][]string
			if tt.xff != "" {
				header = map[string][]string{"X-Forwarded-For": {tt.xff}}
			}
			w := serve(d, "GET", target, tt.remote, header)
			got := compactSorted(t, w.Body.Bytes())
			if got != tt.want {
				t.Errorf("answer %s, want %s", got, tt.want)
			}
		})
	}
	// hits: every answered-by-name lookup with addresses (hidden, half×3,
	// all, none, junk, norecord); percent misses: half from out, none,
	// junk, norecord.
	for name, want := range map[string]int64{"bootstrap_dns_unpublished_hits": 8, "bootstrap_dns_unpublished_percent_misses": 4} {
		if got := reg.Counter(name, "").Value(); got != want {
			t.Errorf("%s = %d, want %d", name, got, want)
		}
	}
}

// compactSorted re-encodes a /bootstrap-dns answer compactly, with
// sorted addresses (JSON sorts the names).
func compactSorted(t *testing.T, body []byte) string {
	t.Helper()
	var m map[string][]string
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("body %q: %v", body, err)
	}
	for _, v := range m {
		slices.Sort(v)
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// NewHandler refreshes unpublished names even when nothing is published.
func TestHandlerUnpublishedOnly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		res := &fakeResolver{answers: map[string][]net.IP{"h.example.com": ips("192.0.2.9")}}
		h := newTestHandler(t, Options{UnpublishedBootstrapDNSNames: []string{" h.example.com", ""}, Resolver: res})
		synctest.Wait()
		if raw, _ := getBootstrapDNS(t, h, ""); raw != "{}" {
			t.Errorf("full list %q, want {} (nothing published)", raw)
		}
		if _, got := getBootstrapDNS(t, h, "h.example.com"); fmt.Sprint(got) != "map[h.example.com:[192.0.2.9]]" {
			t.Errorf("?q=h.example.com: %v", got)
		}
	})
}
