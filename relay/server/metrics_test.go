package server_test

import (
	"testing"

	"github.com/relayctl/relayctl/relay/server"
)

// TestDropReasonSeries: every reason the relay drops packets for has its
// series from the start, at zero, so alerts can refer to them; a reason
// it never uses has none (derper's queue_tail: our queues drop their
// head, never the packet arriving).
func TestDropReasonSeries(t *testing.T) {
	r := newTestRelay(t, server.Options{})
	tests := []struct {
		reason string
		exists bool
	}{
		{"unknown_dest", true},
		{"unknown_dest_on_fwd", true},
		{"gone_disconnected", true},
		{"queue_head", true},
		{"write_error", true},
		{"dup_client", true},
		{"acl_denied", true},
		{"queue_tail", false},
	}
	for _, tt := range tests {
		t.Run(tt.reason, func(t *testing.T) {
			for _, kind := range []string{"disco", "other"} {
				series := `derp_packets_dropped{reason="` + tt.reason + `",kind="` + kind + `"}`
				got := r.metric(series)
				if tt.exists && got != "0" {
					t.Errorf("%s = %q, want 0", series, got)
				}
				if !tt.exists && got != "" {
					t.Errorf("%s = %q, want no such series", series, got)
				}
			}
		})
	}
}
