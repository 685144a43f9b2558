package main

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/relayctl/relayctl/internal/render"
)

// figure is one row of the comparison: a value computed from one server's
// bench documents of one repetition (by scenario name), and the issue's
// target for relayctl, when there is one.
type figure struct {
	name   string
	format func(float64) string
	value  func(docs map[string]map[string]any) (float64, bool)
	target string
	// met checks the target against the two medians; nil for figures
	// shown for context.
	met func(derper, relayctl float64) bool
}

func ratioAtLeast(r float64) func(d, x float64) bool {
	return func(d, x float64) bool { return x >= r*d }
}

func ratioAtMost(r float64) func(d, x float64) bool {
	return func(d, x float64) bool { return x <= r*d }
}

func ownAtLeast(v float64) func(d, x float64) bool { return func(_, x float64) bool { return x >= v } }
func ownAtMost(v float64) func(d, x float64) bool  { return func(_, x float64) bool { return x <= v } }

// field reads a number at a dotted path ("rtt_load.p99_ms") of a scenario's
// document.
func field(scenario, path string) func(map[string]map[string]any) (float64, bool) {
	return func(docs map[string]map[string]any) (float64, bool) { return get(docs[scenario], path) }
}

func get(doc map[string]any, path string) (float64, bool) {
	var v any = doc
	for _, k := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return 0, false
		}
		v = m[k]
	}
	f, ok := v.(float64)
	return f, ok
}

func quotient(a, b func(map[string]map[string]any) (float64, bool)) func(map[string]map[string]any) (float64, bool) {
	return func(docs map[string]map[string]any) (float64, bool) {
		x, ok1 := a(docs)
		y, ok2 := b(docs)
		if !ok1 || !ok2 || y == 0 {
			return 0, false
		}
		return x / y, true
	}
}

func scaled(f func(map[string]map[string]any) (float64, bool), k float64) func(map[string]map[string]any) (float64, bool) {
	return func(docs map[string]map[string]any) (float64, bool) {
		v, ok := f(docs)
		return v * k, ok
	}
}

func figures() []figure {
	ms := func(v float64) string { return fmt.Sprintf("%.2f ms", v) }
	kb := func(v float64) string { return fmt.Sprintf("%.1f KB", v) }
	pct := func(v float64) string { return fmt.Sprintf("%.1f %%", v) }
	frac := func(v float64) string { return fmt.Sprintf("%.2f", v) }
	return []figure{
		{"1200 B, 8 pairs, window 32: packets per server CPU-second", render.SI, field("closed-1200", "packets_per_server_cpu_second"), "≥ 2× derper", ratioAtLeast(2)},
		{"  same: delivered packets/s", render.SI, field("closed-1200", "packets_per_second"), "", nil},
		{"  same: server CPU (cores)", frac, field("closed-1200", "server.cpu_utilization"), "", nil},
		{"  same: load generator CPU (cores)", frac, field("closed-1200", "generator.cpu_utilization"), "", nil},
		{"1200 B open loop: delivered packets/s", render.SI, field("open-1200", "packets_per_second"), "", nil},
		{"  same: loss", pct, scaled(field("open-1200", "loss_ratio"), 100), "", nil},
		{"  open-loop ÷ own closed-loop delivered rate", frac, quotient(field("open-1200", "packets_per_second"), field("closed-1200", "packets_per_second")), "≥ 0.70", ownAtLeast(0.70)},
		{"64 B, window 32: packets per server CPU-second", render.SI, field("closed-64", "packets_per_server_cpu_second"), "≥ 2× derper", ratioAtLeast(2)},
		{"16000 B, window 32: packets per server CPU-second", render.SI, field("closed-16000", "packets_per_server_cpu_second"), "≥ 2× derper", ratioAtLeast(2)},
		{"round trip, idle, p50", ms, field("closed-1200", "rtt_idle.p50_ms"), "", nil},
		{"round trip under 1200 B closed-loop load, p50", ms, field("closed-1200", "rtt_load.p50_ms"), "", nil},
		{"round trip under 1200 B closed-loop load, p99", ms, field("closed-1200", "rtt_load.p99_ms"), "≤ ½ derper", ratioAtMost(0.5)},
		{"round trip under open-loop load, p99", ms, field("open-1200", "rtt_load.p99_ms"), "", nil},
		{"RSS per idle client, 5 000 clients", kb, scaled(field("idle-5000", "server_rss_per_client_bytes"), 1.0/1024), "≤ 12 KB", ownAtMost(12)},
		{"RSS per idle client, 15 000 clients", kb, scaled(field("idle-15000", "server_rss_per_client_bytes"), 1.0/1024), "≤ 12 KB", ownAtMost(12)},
		{"handshakes per server CPU-second", render.SI, field("handshakes", "handshakes_per_server_cpu_second"), "≥ 2× derper", ratioAtLeast(2)},
		{"  same: handshakes/s", render.SI, field("handshakes", "handshakes_per_second"), "", nil},
		{"one receiver stalled: other pairs keep (of their rate)", frac, field("stall-1200", "stall_kept_ratio"), "≥ 0.95", ownAtLeast(0.95)},
		{"a mixed sender's other receiver stalled: other pairs keep (mean)", frac, field("stall-mixed-1200", "stall_kept_ratio"), "≥ 0.95", ownAtLeast(0.95)},
		{"  same: worst 250 ms", frac, field("stall-mixed-1200", "stall_worst_window_ratio"), "≥ 0.80", ownAtLeast(0.80)},
		{"  same run, control without a stall: mean", frac, field("stall-mixed-1200", "control_kept_ratio"), "", nil},
		{"  same run, control without a stall: worst 250 ms", frac, field("stall-mixed-1200", "control_worst_window_ratio"), "", nil},
		{"  mixed sender's reading receiver (of its rate)", frac, field("stall-mixed-1200", "mixed_receiver_ratio"), "", nil},
		{"RSS per idle client after one packet each and 75 s, 5 000 clients", kb, scaled(field("idle-exchange-5000", "server_rss_per_client_bytes"), 1.0/1024), "≤ 12 KB", ownAtMost(12)},
		{"RSS per idle client after one packet each and 75 s, 15 000 clients", kb, scaled(field("idle-exchange-15000", "server_rss_per_client_bytes"), 1.0/1024), "≤ 12 KB", ownAtMost(12)},
		{"  same run, control without a stall: pairs keep", frac, field("stall-1200", "control_kept_ratio"), "", nil},
		{"1200 B over TLS, window 32: packets per server CPU-second", render.SI, field("tls-1200", "packets_per_server_cpu_second"), "≥ 3× derper", ratioAtLeast(3)},
		{"  same: delivered packets/s", render.SI, field("tls-1200", "packets_per_second"), "", nil},
		{"  same: server CPU (cores)", frac, field("tls-1200", "server.cpu_utilization"), "", nil},
		{"  same: load generator CPU (cores)", frac, field("tls-1200", "generator.cpu_utilization"), "", nil},
		{"mesh over TLS, 1200 B, senders on node 1, receivers on node 2: packets per server CPU-second (both nodes)", render.SI, field("mesh-tls-1200", "packets_per_server_cpu_second"), "≥ 4.5× derper", ratioAtLeast(4.5)},
		{"  same: delivered packets/s", render.SI, field("mesh-tls-1200", "packets_per_second"), "", nil},
		{"  same: server CPU, both nodes (cores)", frac, field("mesh-tls-1200", "server.cpu_utilization"), "", nil},
		{"  same: load generator CPU (cores)", frac, field("mesh-tls-1200", "generator.cpu_utilization"), "", nil},
	}
}

// summary is a figure's median and range over the repetitions.
type summary struct {
	median, lo, hi float64
	n              int
}

func summarize(r results, k serverKind, reps int, f figure) (summary, bool) {
	var vals []float64
	for rep := range reps {
		docs := map[string]map[string]any{}
		for sc, list := range r[k] {
			if rep < len(list) && list[rep] != nil {
				docs[sc] = list[rep]
			}
		}
		if v, ok := f.value(docs); ok && !math.IsNaN(v) && !math.IsInf(v, 0) {
			vals = append(vals, v)
		}
	}
	if len(vals) == 0 {
		return summary{}, false
	}
	slices.Sort(vals)
	m := vals[len(vals)/2]
	if len(vals)%2 == 0 {
		m = (vals[len(vals)/2-1] + vals[len(vals)/2]) / 2
	}
	return summary{median: m, lo: vals[0], hi: vals[len(vals)-1], n: len(vals)}, true
}

func (s summary) text(format func(float64) string) string {
	if s.n == 1 || s.lo == s.hi {
		return format(s.median)
	}
	return fmt.Sprintf("%s (%s–%s)", format(s.median), format(s.lo), format(s.hi))
}

func markdownTable(r results, failures []runFailure, o options) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\nMedians over the successful runs of %d repetitions (range in parentheses); %v measured per throughput run;\nserver on CPU %s, load on CPU %s. \"runs\" counts the repetitions that gave the figure, derper · relayctl.\n\n", o.reps, o.duration, o.serverCPU, o.loadCPU)
	b.WriteString("| figure | derper | relayctl | relayctl ÷ derper | target | met | runs |\n|---|---|---|---|---|---|---|\n")
	for _, f := range figures() {
		d, okD := summarize(r, derper, o.reps, f)
		x, okX := summarize(r, relayctl, o.reps, f)
		if !okD && !okX {
			continue
		}
		cell := func(s summary, ok bool) string {
			if !ok {
				return "–"
			}
			return s.text(f.format)
		}
		ratio, met := "–", ""
		if okD && okX && d.median != 0 {
			ratio = fmt.Sprintf("%.2f", x.median/d.median)
		}
		if f.met != nil && okX && okD {
			met = "no"
			if f.met(d.median, x.median) {
				met = "yes"
			}
		}
		runs := fmt.Sprintf("%d/%d · %d/%d", d.n, o.reps, x.n, o.reps)
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n", strings.TrimSpace(f.name), cell(d, okD), cell(x, okX), ratio, f.target, met, runs)
	}
	b.WriteString(failureList(failures))
	return b.String()
}

// failureList lists the runs that failed, for under the table.
func failureList(failures []runFailure) string {
	if len(failures) == 0 {
		return "\nNo run failed.\n"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n%d runs failed (their figures are left out above):\n\n", len(failures))
	for _, f := range failures {
		fmt.Fprintf(&b, "- repetition %d, %s on %s: %s\n", f.rep, f.scenario, f.server, firstLine(f.err))
	}
	return b.String()
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}

// headline is the one-line summary of a run printed as it finishes.
func headline(scenario string, doc map[string]any) string {
	switch {
	case strings.HasPrefix(scenario, "idle-"):
		v, _ := get(doc, "server_rss_per_client_bytes")
		return fmt.Sprintf("%.1f KB RSS per client", v/1024)
	case scenario == "handshakes":
		v, _ := get(doc, "handshakes_per_server_cpu_second")
		rate, _ := get(doc, "handshakes_per_second")
		return fmt.Sprintf("%s handshakes/s, %s per server CPU-s", render.SI(rate), render.SI(v))
	}
	pps, _ := get(doc, "packets_per_second")
	perCPU, _ := get(doc, "packets_per_server_cpu_second")
	p99, _ := get(doc, "rtt_load.p99_ms")
	return fmt.Sprintf("%s packets/s, %s per server CPU-s, RTT p99 %.2f ms", render.SI(pps), render.SI(perCPU), p99)
}
