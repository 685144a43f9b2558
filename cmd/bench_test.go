package cmd

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/relayctl/relayctl/relay/loadgen"
)

func TestBenchFlags(t *testing.T) {
	const server = "http://127.0.0.1:3340"
	tests := []struct {
		name     string
		args     []string
		wantKind benchKind
		check    func(t *testing.T, o *benchOptions)
	}{
		{"defaults", []string{"--server", server}, benchThroughput, func(t *testing.T, o *benchOptions) {
			if tp := o.Throughput; tp.Pairs != 8 || tp.PacketSize != 1200 || tp.Window != 32 || tp.OpenLoop || tp.Duration != 10*time.Second || o.JSON ||
				tp.Warmup != time.Second || tp.PingInterval != 10*time.Millisecond || tp.IdlePing != time.Second {
				t.Errorf("defaults: %+v", o)
			}
		}},
		{"open-loop", []string{"--server", server, "--open-loop", "--size", "64", "--json", "--server-pid", "42"}, benchThroughput, func(t *testing.T, o *benchOptions) {
			if !o.Throughput.OpenLoop || o.Throughput.PacketSize != 64 || !o.JSON || o.Throughput.ServerPID != 42 {
				t.Errorf("options: %+v", o)
			}
		}},
		{"stall-mixed", []string{"--server", server, "--stall-mixed", "--duration", "4s"}, benchThroughput, func(t *testing.T, o *benchOptions) {
			if !o.Throughput.MixedStall || o.Throughput.StalledReceivers != 0 || o.Throughput.Duration != 4*time.Second {
				t.Errorf("options: %+v", o)
			}
		}},
		{"meshed", []string{"--server", server, "--receiver-server", "https://127.0.0.1:8443", "--receiver-server-pid", "43"}, benchThroughput, func(t *testing.T, o *benchOptions) {
			if r := o.Throughput.Receivers; r == nil || r.URL != "https://127.0.0.1:8443" || r.ServerPID != 43 {
				t.Errorf("receivers: %+v", r)
			}
		}},
		{"idle", []string{"idle", "--server", server, "--clients", "15000", "--settle", "5s"}, benchIdle, func(t *testing.T, o *benchOptions) {
			if o.Idle.Clients != 15000 || o.Idle.Settle != 5*time.Second || o.Idle.Parallel != 16 || o.Idle.URL != server {
				t.Errorf("options: %+v", o)
			}
		}},
		{"idle-exchange", []string{"idle", "--server", server, "--exchange", "--settle", "75s"}, benchIdle, func(t *testing.T, o *benchOptions) {
			if !o.Idle.Exchange || o.Idle.Settle != 75*time.Second {
				t.Errorf("options: %+v", o)
			}
		}},
		{"off", []string{"--server", server, "--warmup", "0", "--ping-interval", "0", "--idle-ping", "0"}, benchThroughput, func(t *testing.T, o *benchOptions) {
			// 0 is off in the flag and in loadgen alike: it reaches the
			// config unchanged.
			if tp := o.Throughput; tp.Warmup != 0 || tp.PingInterval != 0 || tp.IdlePing != 0 || tp.URL != server {
				t.Errorf("options: %+v", tp)
			}
		}},
		{"handshakes", []string{"handshakes", "--server", server, "--parallel", "64", "--duration", "3s"}, benchHandshakes, func(t *testing.T, o *benchOptions) {
			if o.Handshakes.Parallel != 64 || o.Handshakes.Duration != 3*time.Second || o.Handshakes.URL != server {
				t.Errorf("options: %+v", o)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var gotKind benchKind
			var got *benchOptions
			c := newBenchCmd(IOStreams{Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}}, func(k benchKind, o *benchOptions) error {
				gotKind, got = k, o
				return nil
			})
			c.SetArgs(tt.args)
			if err := c.Execute(); err != nil {
				t.Fatal(err)
			}
			if gotKind != tt.wantKind {
				t.Fatalf("ran %q, want %q", gotKind, tt.wantKind)
			}
			tt.check(t, got)
		})
	}
}

func TestBenchUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no-server", []string{"bench"}, "--server is required"},
		{"bad-scheme", []string{"bench", "--server", "ws://127.0.0.1:1"}, "--server"},
		{"no-host", []string{"bench", "--server", "http://"}, "--server"},
		{"window-and-open-loop", []string{"bench", "--server", "http://127.0.0.1:1", "--open-loop", "--window", "8"}, "exclude each other"},
		{"zero-pairs", []string{"bench", "--server", "http://127.0.0.1:1", "--pairs", "0"}, "--pairs"},
		{"oversized-packet", []string{"bench", "--server", "http://127.0.0.1:1", "--size", "70000"}, "--size"},
		{"too-many-stalled", []string{"bench", "--server", "http://127.0.0.1:1", "--pairs", "4", "--stall-receivers", "3"}, "--stall-receivers"},
		{"bad-receiver-server", []string{"bench", "--server", "http://127.0.0.1:1", "--receiver-server", "127.0.0.1:2"}, "--receiver-server"},
		{"receiver-pid-alone", []string{"bench", "--server", "http://127.0.0.1:1", "--receiver-server-pid", "7"}, "needs --receiver-server"},
		{"zero-clients", []string{"bench", "idle", "--server", "http://127.0.0.1:1", "--clients", "0"}, "--clients"},
		{"negative-settle", []string{"bench", "idle", "--server", "http://127.0.0.1:1", "--settle", "-1s"}, "--settle -1s: want 0 (off)"},
		{"zero-duration", []string{"bench", "--server", "http://127.0.0.1:1", "--duration", "0"}, "--duration 0s: want a positive duration"},
		{"negative-warmup", []string{"bench", "--server", "http://127.0.0.1:1", "--warmup", "-1s"}, "--warmup -1s"},
		{"negative-server-pid", []string{"bench", "--server", "http://127.0.0.1:1", "--server-pid", "-3"}, "--server-pid -3"},
		{"negative-receiver-pid", []string{"bench", "--server", "http://127.0.0.1:1", "--receiver-server", "http://127.0.0.1:2", "--receiver-server-pid", "-3"}, "--receiver-server-pid -3"},
		{"handshakes-zero-duration", []string{"bench", "handshakes", "--server", "http://127.0.0.1:1", "--duration", "0"}, "--duration 0s"},
		{"zero-parallel", []string{"bench", "handshakes", "--server", "http://127.0.0.1:1", "--parallel", "0"}, "--parallel"},
		{"throughput-flag-on-idle", []string{"bench", "idle", "--server", "http://127.0.0.1:1", "--pairs", "2"}, "unknown flag"},
		{"stray-argument", []string{"bench", "--server", "http://127.0.0.1:1", "extra"}, "unknown command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantUsageError(t, tt.want, tt.args...)
		})
	}
}

func TestBenchUnreachableServerFails(t *testing.T) {
	_, stderr, code := runCLI(t, "bench", "handshakes", "--server", "http://127.0.0.1:1", "--duration", "100ms", "--json")
	if code != 1 || !strings.Contains(stderr, "no handshake succeeded") {
		t.Errorf("exit %d, stderr %q; want 1 and the reason", code, stderr)
	}
}

// The in-process relay shares this test's process, so --server-pid is our
// own pid: the figures are meaningless but the plumbing is exercised.
func TestBenchAgainstRelay(t *testing.T) {
	node := startDevNode(t)
	server := fmt.Sprintf("http://127.0.0.1:%d", node.derpPort)
	pid := strconv.Itoa(os.Getpid())
	tests := []struct {
		name     string
		args     []string
		wantKeys []string
		wantText []string
	}{
		{
			name: "throughput",
			args: []string{"bench", "--pairs", "2", "--duration", "200ms", "--warmup", "50ms", "--idle-ping", "100ms", "--ping-interval", "5ms"},
			wantKeys: []string{"mode", "pairs", "packet_size", "window", "packets_per_second", "megabytes_per_second",
				"loss_ratio", "rtt_idle", "rtt_load", "server", "packets_per_server_cpu_second", "generator"},
			wantText: []string{"delivered", "round trip, under load", "packets per server CPU-second", "generator CPU"},
		},
		{
			name:     "open-loop",
			args:     []string{"bench", "--pairs", "2", "--open-loop", "--duration", "200ms", "--warmup", "0", "--idle-ping", "0"},
			wantKeys: []string{"mode", "packets_per_second", "loss_ratio", "rtt_load"},
			wantText: []string{"open loop", "loss"},
		},
		{
			name: "stall-mixed",
			args: []string{"bench", "--pairs", "2", "--stall-mixed", "--duration", "300ms", "--warmup", "0", "--idle-ping", "0"},
			wantKeys: []string{"mixed_stall", "stall_kept_ratio", "stall_worst_window_ratio", "control_kept_ratio",
				"control_worst_window_ratio", "mixed_receiver_ratio", "stall_baseline_pair_packets_per_second"},
			wantText: []string{"mixed sender", "other pairs kept", "worst 250ms", "control, no stall"},
		},
		{
			name:     "idle",
			args:     []string{"bench", "idle", "--clients", "20", "--settle", "50ms"},
			wantKeys: []string{"clients", "connect_seconds", "server_rss_before_bytes", "server_rss_after_bytes", "server_rss_per_client_bytes"},
			wantText: []string{"20 idle clients", "server RSS per client"},
		},
		{
			name:     "idle-exchange",
			args:     []string{"bench", "idle", "--clients", "20", "--settle", "50ms", "--exchange"},
			wantKeys: []string{"clients", "exchanged", "settle_seconds", "server_rss_per_client_bytes"},
			wantText: []string{"20 idle clients", "after each sent and received one packet"},
		},
		{
			name:     "handshakes",
			args:     []string{"bench", "handshakes", "--duration", "200ms", "--parallel", "2"},
			wantKeys: []string{"parallel", "handshakes", "failures", "handshakes_per_second", "handshake_time", "server", "handshakes_per_server_cpu_second"},
			wantText: []string{"handshakes per server CPU-second", "handshake time"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name+"-json", func(t *testing.T) {
			stdout, stderr, code := runCLI(t, append(tt.args, "--server", server, "--server-pid", pid, "--json")...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			var doc map[string]any
			if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
				t.Fatalf("stdout is not one JSON document: %v\n%s", err, stdout)
			}
			for _, k := range tt.wantKeys {
				if _, ok := doc[k]; !ok {
					t.Errorf("JSON lacks %q:\n%s", k, stdout)
				}
			}
			// Progress is for terminals only; a pipe gets none.
			if stderr != "" {
				t.Errorf("stderr not empty: %q", stderr)
			}
		})
		t.Run(tt.name+"-text", func(t *testing.T) {
			stdout, stderr, code := runCLI(t, append(tt.args, "--server", server, "--server-pid", pid)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			for _, want := range tt.wantText {
				if !strings.Contains(stdout, want) {
					t.Errorf("output lacks %q:\n%s", want, stdout)
				}
			}
		})
	}
}

func TestFormatBenchProgress(t *testing.T) {
	tests := []struct {
		name string
		in   loadgen.Progress
		want string
	}{
		{"throughput", loadgen.Progress{Phase: "measuring", Elapsed: 2500 * time.Millisecond, Total: 10 * time.Second, Rate: 1.5e6, Bytes: 1.8e9}, "measuring 2.5s/10s  1.5M packets/s  1800.0 MB/s"},
		{"connecting", loadgen.Progress{Phase: "connecting", Elapsed: time.Second, Count: 1200, Rate: 1200}, "connecting 1.0s  1200 clients  1.2k/s"},
		{"handshakes", loadgen.Progress{Phase: "measuring", Elapsed: time.Second, Total: 5 * time.Second, Count: 3000, Rate: 2950}, "measuring 1.0s/5s  3000 done  2.95k/s"},
		{"phase-only", loadgen.Progress{Phase: "draining"}, "draining"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := formatBenchProgress(tt.in); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
