package loadgen

import (
	"testing"
	"time"
)

// TestStallControl: the control of a stall run has its baseline and its
// ratio, with every receiver reading.
func TestStallControl(t *testing.T) {
	relay := startRelay(t)
	res, err := RunThroughput(t.Context(), ThroughputConfig{
		Target: relay.target, Pairs: 2, PacketSize: 1200, Window: 8, StallControl: true,
		Duration: 300 * time.Millisecond, Warmup: 50 * time.Millisecond, IdlePing: -1, PingInterval: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.StallBaseline == nil || res.StallKeptRatio == nil || *res.StallKeptRatio <= 0 || res.StalledReceivers != 0 {
		t.Fatalf("baseline %+v, kept ratio %v, stalled %d: want a baseline and a ratio, none stalled", res.StallBaseline, res.StallKeptRatio, res.StalledReceivers)
	}
	if res.PairPacketsPerSecond.Min == 0 {
		t.Fatalf("a pair delivered nothing in the measured phase: %+v", res.PairPacketsPerSecond)
	}
}
