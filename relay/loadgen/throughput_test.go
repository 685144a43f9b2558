package loadgen

import (
	"encoding/json"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestRunThroughput(t *testing.T) {
	tests := []struct {
		name     string
		cfg      ThroughputConfig
		wantMode string
	}{
		{"closed-loop", ThroughputConfig{Pairs: 3, PacketSize: 1200, Window: 4}, "closed-loop"},
		{"closed-loop-window-1", ThroughputConfig{Pairs: 1, PacketSize: 64, Window: 1}, "closed-loop"},
		{"large-packets", ThroughputConfig{Pairs: 2, PacketSize: 16000, Window: 8}, "closed-loop"},
		{"open-loop", ThroughputConfig{Pairs: 2, PacketSize: 1200, OpenLoop: true}, "open-loop"},
		{"stalled-receiver", ThroughputConfig{Pairs: 2, PacketSize: 1200, Window: 8, StalledReceivers: 1}, "closed-loop"},
		{"mixed-stall", ThroughputConfig{Pairs: 2, PacketSize: 1200, Window: 8, MixedStall: true}, "closed-loop"},
		{"mixed-stall-open-loop", ThroughputConfig{Pairs: 1, PacketSize: 1200, OpenLoop: true, MixedStall: true}, "open-loop"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			relay := startRelay(t)
			cfg := tt.cfg
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
				if res.StallBaseline == nil || res.StallBaseline.Min <= 0 || !positive(res.StallKeptRatio) || !positive(res.StallWorstWindowRatio) {
					t.Errorf("stall baseline %+v, kept ratio %v, worst window %v", res.StallBaseline, res.StallKeptRatio, res.StallWorstWindowRatio)
				}
				if !positive(res.ControlKeptRatio) || !positive(res.ControlWorstWindowRatio) {
					t.Errorf("control kept ratio %v, worst window %v", res.ControlKeptRatio, res.ControlWorstWindowRatio)
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
	res, err := RunThroughput(t.Context(), ThroughputConfig{
		Target:       Target{URL: relay.target.URL},
		Pairs:        1,
		Duration:     100 * time.Millisecond,
		Warmup:       -1,
		PingInterval: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.RTTIdle != nil || res.RTTLoad != nil || res.Server != nil || res.PacketsPerServerCPUSecond != 0 {
		t.Errorf("got RTT or server figures without pings or pid: %+v", res)
	}
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	if err := json.Unmarshal(b, &fields); err != nil {
		t.Fatal(err)
	}
	for _, absent := range []string{"rtt_idle", "rtt_load", "server", "packets_per_server_cpu_second", "window_", "stalled_receivers"} {
		if _, ok := fields[absent]; ok {
			t.Errorf("JSON has %q without the data for it: %s", absent, b)
		}
	}
}

func TestRunThroughputJSON(t *testing.T) {
	relay := startRelay(t)
	res, err := RunThroughput(t.Context(), ThroughputConfig{
		Target: relay.target, Pairs: 1, Duration: 100 * time.Millisecond, IdlePing: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	if err := json.Unmarshal(b, &fields); err != nil {
		t.Fatal(err)
	}
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

func TestThroughputConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  ThroughputConfig
	}{
		{"no-url", ThroughputConfig{}},
		{"bad-scheme", ThroughputConfig{Target: Target{URL: "ftp://127.0.0.1:1"}}},
		{"negative-pairs", ThroughputConfig{Target: Target{URL: "http://127.0.0.1:1"}, Pairs: -1}},
		{"oversized-packet", ThroughputConfig{Target: Target{URL: "http://127.0.0.1:1"}, PacketSize: 65537}},
		{"most-stalled", ThroughputConfig{Target: Target{URL: "http://127.0.0.1:1"}, Pairs: 3, StalledReceivers: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := RunThroughput(t.Context(), tt.cfg); err == nil {
				t.Error("RunThroughput succeeded")
			}
		})
	}
}

func TestRunThroughputUnreachable(t *testing.T) {
	relay := startRelay(t)
	url := relay.target.URL
	relay.srv.Close()
	_, err := RunThroughput(t.Context(), ThroughputConfig{
		Target: Target{URL: url + "/nowhere"}, Pairs: 1, Duration: 50 * time.Millisecond, ConnectTimeout: 2 * time.Second,
	})
	if err == nil {
		t.Fatal("RunThroughput against a closed relay succeeded")
	}
}
