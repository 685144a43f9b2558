package main

import (
	"strings"
	"testing"
	"time"
)

// TestTableCountsRunsAndListsFailures: a cell says how many repetitions
// gave its figure, and the failed runs are listed under the table.
func TestTableCountsRunsAndListsFailures(t *testing.T) {
	doc := func(perCPU float64) map[string]any {
		return map[string]any{"packets_per_server_cpu_second": perCPU, "generator": map[string]any{"cpu_utilization": 0.5}}
	}
	r := results{
		derper:   {"tls-1200": {doc(100), nil}},
		relayctl: {"tls-1200": {doc(300), doc(320)}},
	}
	failures := []runFailure{{rep: 2, scenario: "tls-1200", server: derper, err: "derper exited during the run\nlog follows"}}
	out := markdownTable(r, failures, options{reps: 2, duration: time.Second, serverCPU: "0", loadCPU: "1"})
	for _, want := range []string{
		"| 1200 B over TLS, window 32: packets per server CPU-second | 100 | 310 (300–320) | 3.10 | ≥ 3× derper | yes | 1/2 · 2/2 |",
		"| same: load generator CPU (cores) | 0.50 | 0.50 | 1.00 |  |  | 1/2 · 2/2 |",
		"1 runs failed",
		"- repetition 2, tls-1200 on derper: derper exited during the run …",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if out := markdownTable(r, nil, options{reps: 2}); !strings.Contains(out, "No run failed.") {
		t.Errorf("without failures the table does not say so:\n%s", out)
	}
}
