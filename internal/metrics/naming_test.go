package metrics

import (
	"bytes"
	"strings"
	"testing"
)

// TestConventionalNames: the /metrics name follows from the type.
func TestConventionalNames(t *testing.T) {
	for _, tc := range []struct {
		name string
		k    kind
		want string
	}{
		{"derp_accepts", kindCounter, "derp_accepts_total"},
		{"derp_total_dup_client_conns", kindCounter, "derp_dup_client_conns_total"},
		{"relayctl_probe_map_load_errors_total", kindCounter, "relayctl_probe_map_load_errors_total"},
		{"derp_clients_total", kindGauge, "derp_clients"},
		{"derp_current_connections", kindGauge, "derp_current_connections"},
		{"uptime_sec", kindCounter, "relayctl_uptime_seconds_total"},
		{"stun_requests", kindCounter, "relayctl_stun_requests_total"},
		{"tls_listener_rejected_connections", kindCounter, "relayctl_tls_listener_rejected_connections_total"},
		{"goroutines", kindGauge, "go_goroutines"},
		{"process_start_unix_time", kindGauge, "process_start_time_seconds"},
		{"go_version", kindGauge, "go_version"},
		{"derp_buffered_write_frames", kindHistogram, "derp_buffered_write_frames"},
	} {
		if got := conventionalName(tc.name, tc.k); got != tc.want {
			t.Errorf("%s (%s): %s, want %s", tc.name, tc.k, got, tc.want)
		}
	}
}

// TestTwoNameSets: /debug/varz keeps the registered names, /metrics the
// conventional ones, for the same series.
func TestTwoNameSets(t *testing.T) {
	r := NewRegistry()
	r.CounterVec("derp_packets_dropped", "dropped", "reason").With("queue_head").Add(3)
	r.CounterFunc("uptime_sec", "up", func() float64 { return 7 })
	var varz, prom bytes.Buffer
	if err := r.WritePrometheus(&varz); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteConventional(&prom); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"# TYPE derp_packets_dropped counter\n", `derp_packets_dropped{reason="queue_head"} 3` + "\n", "uptime_sec 7\n"} {
		if !strings.Contains(varz.String(), want) {
			t.Errorf("/debug/varz lacks %q:\n%s", want, varz.String())
		}
	}
	for _, want := range []string{"# TYPE derp_packets_dropped_total counter\n", `derp_packets_dropped_total{reason="queue_head"} 3` + "\n", "relayctl_uptime_seconds_total 7\n"} {
		if !strings.Contains(prom.String(), want) {
			t.Errorf("/metrics lacks %q:\n%s", want, prom.String())
		}
	}
}
