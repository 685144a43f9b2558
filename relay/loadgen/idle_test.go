package loadgen

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/relayctl/relayctl/internal/waitfor"
)

func TestRunIdle(t *testing.T) {
	relay := startRelay(t)
	const clients = 40
	var seenByServer atomic.Int64
	cfg := DefaultIdleConfig()
	cfg.Target, cfg.Clients, cfg.Parallel, cfg.Settle = relay.target, clients, 4, 100*time.Millisecond
	cfg.ProgressInterval = 20 * time.Millisecond
	cfg.Progress = func(p Progress) {
		if p.Phase == "settling" {
			seenByServer.Store(int64(relay.srv.ConnCount()))
		}
	}
	res, err := RunIdle(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := seenByServer.Load(); got != clients {
		t.Errorf("server had %d connections while settling, want %d", got, clients)
	}
	if res.Clients != clients || res.ConnectsPerSecond <= 0 {
		t.Errorf("result %+v", res)
	}
	if res.ServerRSSBefore <= 0 || res.ServerRSSAfter <= 0 {
		t.Errorf("server RSS before %d, after %d: want both read", res.ServerRSSBefore, res.ServerRSSAfter)
	}
	if want := float64(res.ServerRSSAfter-res.ServerRSSBefore) / clients; res.ServerRSSPerClient != want {
		t.Errorf("RSS per client %v, want %v", res.ServerRSSPerClient, want)
	}
	fields, b := jsonFields(t, res)
	for _, k := range []string{"clients", "connect_seconds", "connects_per_second", "server_rss_before_bytes",
		"server_rss_after_bytes", "server_rss_per_client_bytes", "generator_rss_bytes"} {
		if _, ok := fields[k]; !ok {
			t.Errorf("JSON lacks %q: %s", k, b)
		}
	}
	// RunIdle disconnects everything before returning.
	waitFor(t, func() bool { return relay.srv.ConnCount() == 0 }, "server to see every idle client leave")
}

func TestRunIdleExchange(t *testing.T) {
	relay := startRelay(t)
	const clients = 30
	cfg := DefaultIdleConfig()
	cfg.Target, cfg.Clients, cfg.Parallel, cfg.Settle, cfg.Exchange = relay.target, clients, 4, 50*time.Millisecond, true
	res, err := RunIdle(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Exchanged || res.SettleSeconds != 0.05 {
		t.Errorf("result %+v: want exchanged, settle 0.05 s", res)
	}
	// Each client sent one disco-like packet, and each was delivered
	// (RunIdle waits for every client to read its own). A packet counts
	// as sent when its write returns, which may be just after it was read.
	for _, want := range []string{"derp_packets_received 30\n", "derp_packets_sent 30\n", "derp_packets_received_kind{kind=\"disco\"} 30\n"} {
		waitfor.Until(t, 5*time.Second, 2*time.Millisecond, "relay metric "+want, func() bool {
			var b strings.Builder
			relay.srv.Metrics().WritePrometheus(&b)
			return strings.Contains(b.String(), want)
		})
	}
}

func TestRunIdleFailsWhenConnectsFail(t *testing.T) {
	cfg := DefaultIdleConfig()
	cfg.Target, cfg.Clients, cfg.Settle = Target{URL: startNotARelay(t)}, 3, time.Millisecond
	_, err := RunIdle(t.Context(), cfg)
	if err == nil {
		t.Fatal("RunIdle succeeded against a path that does not upgrade")
	}
}

func TestRunHandshakes(t *testing.T) {
	relay := startRelay(t)
	cfg := DefaultHandshakeConfig()
	cfg.Target, cfg.Duration, cfg.Parallel = relay.target, 300*time.Millisecond, 3
	res, err := RunHandshakes(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Handshakes == 0 || res.Failures != 0 || res.LastError != "" {
		t.Errorf("handshakes %d, failures %d (%s)", res.Handshakes, res.Failures, res.LastError)
	}
	if res.Time == nil || res.Time.Samples != int(res.Handshakes) || res.Time.P50 <= 0 {
		t.Errorf("handshake times %+v for %d handshakes", res.Time, res.Handshakes)
	}
	if res.Server == nil || res.HandshakesPerSecond <= 0 {
		t.Errorf("result %+v", res)
	}
	waitFor(t, func() bool { return relay.srv.ConnCount() == 0 }, "server to see every handshake client leave")
}

func TestRunHandshakesAllFail(t *testing.T) {
	cfg := DefaultHandshakeConfig()
	cfg.Target, cfg.Duration, cfg.Parallel = Target{URL: startNotARelay(t)}, 50*time.Millisecond, 1
	res, err := RunHandshakes(t.Context(), cfg)
	if err == nil {
		t.Fatal("RunHandshakes succeeded with no handshake")
	}
	if res == nil || res.Failures == 0 || !strings.Contains(res.LastError, "404") {
		t.Errorf("result %+v: want failures and the last error", res)
	}
}

// waitFor polls cond until it holds or a few seconds pass.
func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	waitfor.Until(t, 5*time.Second, 5*time.Millisecond, what, cond)
}
