package loadgen

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestRunThroughput(t *testing.T) {
	tests := []struct {
		name     string
		edit     func(*ThroughputConfig)
		wantMode string
	}{
		{"closed-loop", func(c *ThroughputConfig) { c.Pairs, c.Window = 3, 4 }, "closed-loop"},
		{"closed-loop-window-1", func(c *ThroughputConfig) { c.Pairs, c.PacketSize, c.Window = 1, 64, 1 }, "closed-loop"},
		{"large-packets", func(c *ThroughputConfig) { c.Pairs, c.PacketSize, c.Window = 2, 16000, 8 }, "closed-loop"},
		{"open-loop", func(c *ThroughputConfig) { c.Pairs, c.OpenLoop = 2, true }, "open-loop"},
		{"stalled-receiver", func(c *ThroughputConfig) { c.Pairs, c.Window, c.StalledReceivers = 2, 8, 1 }, "closed-loop"},
		{"mixed-stall", func(c *ThroughputConfig) { c.Pairs, c.Window, c.MixedStall = 2, 8, true }, "closed-loop"},
		{"mixed-stall-open-loop", func(c *ThroughputConfig) { c.Pairs, c.OpenLoop, c.MixedStall = 1, true, true }, "open-loop"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			relay := startRelay(t)
			cfg := DefaultThroughputConfig()
			tt.edit(&cfg)
			cfg.Target = relay.target
			cfg.Duration = 300 * time.Millisecond
			cfg.Warmup = 50 * time.Millisecond
			cfg.IdlePing = 100 * time.Millisecond
			cfg.PingInterval = 5 * time.Millisecond
			cfg.ProgressInterval = 50 * time.Millisecond
			var mu sync.Mutex
			var phases []string
			cfg.Progress = func(p Progress) {
				mu.Lock()
				defer mu.Unlock()
				if len(phases) == 0 || phases[len(phases)-1] != p.Phase {
					phases = append(phases, p.Phase)
				}
			}
			res, err := RunThroughput(t.Context(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if res.Mode != tt.wantMode || res.Pairs != cfg.Pairs || res.PacketSize != cfg.PacketSize {
				t.Errorf("result describes %s, %d pairs, %d B; want %s, %d, %d", res.Mode, res.Pairs, res.PacketSize, tt.wantMode, cfg.Pairs, cfg.PacketSize)
			}
			if res.Delivered == 0 || res.PacketsPerSecond <= 0 || res.MegabytesPerSecond <= 0 {
				t.Errorf("nothing delivered: %+v", res)
			}
			// The window may start with packets in flight, at most a
			// window's worth per pair.
			if limit := res.Sent + uint64(cfg.Pairs*cfg.Window); !cfg.OpenLoop && res.Delivered > limit {
				t.Errorf("delivered %d > sent %d + what fits in the windows", res.Delivered, res.Sent)
			}
			if res.Malformed != 0 {
				t.Errorf("%d malformed packets", res.Malformed)
			}
			// Closed loop never overfills the relay's queues, and the run
			// drains before counting, so nothing may be lost.
			if !cfg.OpenLoop && res.LossRatio != 0 {
				t.Errorf("closed-loop loss ratio %v, want 0", res.LossRatio)
			}
			if res.PairPacketsPerSecond.Min <= 0 || res.PairPacketsPerSecond.Min > res.PairPacketsPerSecond.Max {
				t.Errorf("pair rates %+v: want every live pair to deliver", res.PairPacketsPerSecond)
			}
			for name, l := range map[string]*Latency{"idle": res.RTTIdle, "load": res.RTTLoad} {
				if l == nil || l.Samples == 0 || l.P50 <= 0 || l.P50 > l.P99 || l.P99 > l.Max {
					t.Errorf("RTT %s: %+v", name, l)
				}
			}
			if res.Server == nil || res.Server.RSSBytes <= 0 || res.Server.Seconds < 0 {
				t.Errorf("server usage: %+v", res.Server)
			}
			mu.Lock()
			defer mu.Unlock()
			want := []string{"connecting", "idle-rtt", "warmup", "measuring", "draining"}
			if cfg.StalledReceivers > 0 || cfg.MixedStall {
				want = []string{"connecting", "idle-rtt", "warmup", "baseline", "control", "measuring", "draining"}
				positive := func(r *float64) bool { return r != nil && *r > 0 }
				// A worst window may be empty when the test machine starves
				// the relay for 250 ms; it must be reported all the same.
				present := func(r *float64) bool { return r != nil && *r >= 0 }
				show := func(r *float64) any {
					if r == nil {
						return nil
					}
					return *r
				}
				if res.StallBaseline == nil || res.StallBaseline.Min <= 0 || !positive(res.StallKeptRatio) || !present(res.StallWorstWindowRatio) {
					t.Errorf("stall baseline %+v, kept ratio %v, worst window %v", res.StallBaseline, show(res.StallKeptRatio), show(res.StallWorstWindowRatio))
				}
				if !positive(res.ControlKeptRatio) || !present(res.ControlWorstWindowRatio) {
					t.Errorf("control kept ratio %v, worst window %v", show(res.ControlKeptRatio), show(res.ControlWorstWindowRatio))
				}
				// The worst window cannot beat the whole phase by much
				// (the last, partial window is not counted).
				if positive(res.StallWorstWindowRatio) && *res.StallWorstWindowRatio > 1.5**res.StallKeptRatio {
					t.Errorf("worst window %v above the mean %v", *res.StallWorstWindowRatio, *res.StallKeptRatio)
				}
			} else if res.StallBaseline != nil || res.StallKeptRatio != nil || res.StallWorstWindowRatio != nil || res.ControlKeptRatio != nil || res.ControlWorstWindowRatio != nil {
				t.Errorf("stall figures without a stall: %+v", res)
			}
			if res.MixedStall != cfg.MixedStall || cfg.MixedStall != (res.MixedReceiverRatio != nil && *res.MixedReceiverRatio > 0) {
				t.Errorf("mixed stall %v, mixed receiver ratio %v; want them for a mixed-stall run only", res.MixedStall, res.MixedReceiverRatio)
			}
			if !slices.Equal(phases, want) {
				t.Errorf("progress phases %q, want %q", phases, want)
			}
		})
	}
}

func TestRunThroughputWithoutPings(t *testing.T) {
	relay := startRelay(t)
	cfg := DefaultThroughputConfig()
	cfg.Target = Target{URL: relay.target.URL}
	cfg.Pairs, cfg.Duration = 1, 100*time.Millisecond
	// 0 is off: no warmup, no pings, no connect timeout, progress only
	// at each phase's start.
	cfg.Warmup, cfg.PingInterval, cfg.ConnectTimeout, cfg.ProgressInterval = 0, 0, 0, 0
	var phases []string
	cfg.Progress = func(p Progress) { phases = append(phases, p.Phase) }
	res, err := RunThroughput(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.RTTIdle != nil || res.RTTLoad != nil || res.Server != nil || res.PacketsPerServerCPUSecond != 0 {
		t.Errorf("got RTT or server figures without pings or pid: %+v", res)
	}
	if want := []string{"connecting", "measuring", "draining"}; !slices.Equal(phases, want) {
		t.Errorf("progress %q, want only the phase starts %q", phases, want)
	}
	fields, b := jsonFields(t, res)
	for _, absent := range []string{"rtt_idle", "rtt_load", "server", "packets_per_server_cpu_second", "window_", "stalled_receivers"} {
		if _, ok := fields[absent]; ok {
			t.Errorf("JSON has %q without the data for it: %s", absent, b)
		}
	}
}

func TestRunThroughputJSON(t *testing.T) {
	relay := startRelay(t)
	cfg := DefaultThroughputConfig()
	cfg.Target, cfg.Pairs, cfg.Duration, cfg.IdlePing = relay.target, 1, 100*time.Millisecond, 50*time.Millisecond
	res, err := RunThroughput(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	fields, b := jsonFields(t, res)
	for _, k := range []string{"mode", "pairs", "packet_size", "window", "duration_seconds", "sent", "delivered",
		"packets_per_second", "megabytes_per_second", "pair_packets_per_second", "loss_ratio", "rtt_idle",
		"rtt_load", "server", "packets_per_server_cpu_second", "generator"} {
		if _, ok := fields[k]; !ok {
			t.Errorf("JSON lacks %q: %s", k, b)
		}
	}
	server, _ := fields["server"].(map[string]any)
	for _, k := range []string{"cpu_seconds", "cpu_utilization", "rss_bytes"} {
		if _, ok := server[k]; !ok {
			t.Errorf("server JSON lacks %q: %v", k, server)
		}
	}
	rtt, _ := fields["rtt_load"].(map[string]any)
	for _, k := range []string{"samples", "lost", "p50_ms", "p90_ms", "p99_ms", "max_ms"} {
		if _, ok := rtt[k]; !ok {
			t.Errorf("rtt_load JSON lacks %q: %v", k, rtt)
		}
	}
}

// TestValidate: each config names the field out of range, and points at
// it, so relayctl bench can name the flag bound to it.
func TestValidate(t *testing.T) {
	url := "http://127.0.0.1:1"
	tp := func(edit func(*ThroughputConfig)) validator {
		c := DefaultThroughputConfig()
		c.Target.URL = url
		edit(&c)
		return &c
	}
	idle := func(edit func(*IdleConfig)) validator {
		c := DefaultIdleConfig()
		c.Target.URL = url
		edit(&c)
		return &c
	}
	hs := func(edit func(*HandshakeConfig)) validator {
		c := DefaultHandshakeConfig()
		c.Target.URL = url
		edit(&c)
		return &c
	}
	tests := []struct {
		name      string
		cfg       validator
		wantField string // "" for valid
	}{
		{"throughput-defaults", tp(func(*ThroughputConfig) {}), ""},
		{"open-loop-ignores-window", tp(func(c *ThroughputConfig) { c.OpenLoop, c.Window = true, 0 }), ""},
		{"everything-off", tp(func(c *ThroughputConfig) {
			c.Warmup, c.PingInterval, c.IdlePing, c.ConnectTimeout, c.ProgressInterval = 0, 0, 0, 0, 0
		}), ""},
		{"no-url", tp(func(c *ThroughputConfig) { c.URL = "" }), "Target URL"},
		{"bad-scheme", tp(func(c *ThroughputConfig) { c.URL = "ftp://127.0.0.1:1" }), "Target URL"},
		{"negative-pid", tp(func(c *ThroughputConfig) { c.ServerPID = -1 }), "Target ServerPID"},
		{"bad-receivers", tp(func(c *ThroughputConfig) { c.Receivers = &Target{URL: "127.0.0.1:2"} }), "Receivers URL"},
		{"zero-pairs", tp(func(c *ThroughputConfig) { c.Pairs = 0 }), "Pairs"},
		{"oversized-packet", tp(func(c *ThroughputConfig) { c.PacketSize = 65537 }), "PacketSize"},
		{"zero-window", tp(func(c *ThroughputConfig) { c.Window = 0 }), "Window"},
		{"most-stalled", tp(func(c *ThroughputConfig) { c.Pairs, c.StalledReceivers = 3, 2 }), "StalledReceivers"},
		{"zero-duration", tp(func(c *ThroughputConfig) { c.Duration = 0 }), "Duration"},
		{"negative-warmup", tp(func(c *ThroughputConfig) { c.Warmup = -1 }), "Warmup"},
		{"idle-defaults", idle(func(*IdleConfig) {}), ""},
		{"idle-no-settle", idle(func(c *IdleConfig) { c.Settle = 0 }), ""},
		{"zero-clients", idle(func(c *IdleConfig) { c.Clients = 0 }), "Clients"},
		{"idle-zero-parallel", idle(func(c *IdleConfig) { c.Parallel = 0 }), "Parallel"},
		{"negative-settle", idle(func(c *IdleConfig) { c.Settle = -time.Second }), "Settle"},
		{"handshake-defaults", hs(func(*HandshakeConfig) {}), ""},
		{"handshake-zero-duration", hs(func(c *HandshakeConfig) { c.Duration = 0 }), "Duration"},
		{"handshake-zero-parallel", hs(func(c *HandshakeConfig) { c.Parallel = 0 }), "Parallel"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.wantField == "" {
				if err != nil {
					t.Fatalf("valid config refused: %v", err)
				}
				return
			}
			var oe *OptionError
			if !errors.As(err, &oe) || oe.Name != tt.wantField || oe.Field == nil || !strings.HasPrefix(err.Error(), tt.wantField+" ") {
				t.Fatalf("error %v (%#v), want an OptionError for %s", err, oe, tt.wantField)
			}
		})
	}
}

type validator interface{ Validate() error }

func TestRunRefusesInvalidConfig(t *testing.T) {
	if _, err := RunThroughput(t.Context(), ThroughputConfig{Target: Target{URL: "http://127.0.0.1:1"}}); err == nil {
		t.Error("RunThroughput ran a zero config")
	}
	if _, err := RunIdle(t.Context(), IdleConfig{Target: Target{URL: "http://127.0.0.1:1"}}); err == nil {
		t.Error("RunIdle ran a zero config")
	}
	if _, err := RunHandshakes(t.Context(), HandshakeConfig{Target: Target{URL: "http://127.0.0.1:1"}}); err == nil {
		t.Error("RunHandshakes ran a zero config")
	}
}

func TestRunThroughputUnreachable(t *testing.T) {
	relay := startRelay(t)
	url := relay.target.URL
	relay.srv.Close()
	cfg := DefaultThroughputConfig()
	cfg.Target, cfg.Pairs, cfg.Duration, cfg.ConnectTimeout = Target{URL: url + "/nowhere"}, 1, 50*time.Millisecond, 2*time.Second
	_, err := RunThroughput(t.Context(), cfg)
	if err == nil {
		t.Fatal("RunThroughput against a closed relay succeeded")
	}
}
