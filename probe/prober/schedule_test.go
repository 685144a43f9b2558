package prober

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/relayctl/relayctl/internal/derpmap"
)

// fakeProbes are n probes running check, in one region.
func fakeProbes(n int, check func(ctx context.Context, r *Result)) []*Probe {
	reg := &derpmap.DERPRegion{RegionID: 900, RegionCode: "t"}
	var ps []*Probe
	for i := range n {
		node := &derpmap.DERPNode{Name: fmt.Sprintf("n%d", i)}
		ps = append(ps, &Probe{Name: fmt.Sprintf("900/n%d/derp", i), Region: reg, Node: node, Class: ClassDERP, check: check})
	}
	return ps
}

func TestRunAllBoundsParallelism(t *testing.T) {
	for _, parallel := range []int{1, 3, 8} {
		t.Run(fmt.Sprint("parallel_", parallel), func(t *testing.T) {
			var running, peak atomic.Int32
			release := make(chan struct{})
			check := func(ctx context.Context, r *Result) {
				now := running.Add(1)
				for {
					p := peak.Load()
					if now <= p || peak.CompareAndSwap(p, now) {
						break
					}
				}
				<-release
				running.Add(-1)
			}
			probes := fakeProbes(20, check)
			done := make(chan []Result)
			go func() { done <- RunAll(t.Context(), probes, RunOptions{Parallel: parallel}) }()
			// Wait until the pool is full, then let everything finish.
			deadline := time.Now().Add(5 * time.Second)
			for running.Load() < int32(parallel) && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			close(release)
			rs := <-done
			if got := peak.Load(); got != int32(parallel) {
				t.Errorf("peak concurrency %d, want %d", got, parallel)
			}
			for i, r := range rs {
				if r.Name != probes[i].Name || r.Status != StatusOK {
					t.Errorf("result %d = %s %s, want %s ok (plan order)", i, r.Name, r.Status, probes[i].Name)
				}
			}
		})
	}
}

func TestRunAllTimesOutEachProbe(t *testing.T) {
	check := func(ctx context.Context, r *Result) {
		if r.Node == "n1" {
			<-ctx.Done()
			fail(ctx, r, fmt.Errorf("waiting for the relay: %w", ctx.Err()))
		}
	}
	var calls []string
	start := time.Now()
	rs := RunAll(t.Context(), fakeProbes(3, check), RunOptions{Timeout: 100 * time.Millisecond, OnResult: func(done, total int, r Result) {
		calls = append(calls, fmt.Sprintf("%d/%d", done, total))
	}})
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("took %v; the timeout is 100ms", el)
	}
	if rs[1].Status != StatusFail || !strings.HasPrefix(rs[1].Error, "timed out after") {
		t.Errorf("slow probe: %s %q, want fail 'timed out after …'", rs[1].Status, rs[1].Error)
	}
	if rs[0].Status != StatusOK || rs[2].Status != StatusOK {
		t.Errorf("other probes: %s, %s; want ok", rs[0].Status, rs[2].Status)
	}
	if strings.Join(calls, " ") != "1/3 2/3 3/3" {
		t.Errorf("OnResult calls %v", calls)
	}
}

func TestRunAllCancelledMarksUnstartedNotRun(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	check := func(ctx context.Context, r *Result) {
		cancel()
		<-ctx.Done()
		r.Status = StatusFail
	}
	rs := RunAll(ctx, fakeProbes(4, check), RunOptions{Parallel: 1})
	if !strings.HasPrefix(rs[3].Error, "not run: context canceled") {
		t.Errorf("last probe error %q, want 'not run: context canceled'", rs[3].Error)
	}
}

// TestRunAllZeroTimeoutIsNoLimit: a zero Timeout gives the probes no
// deadline of their own (only ctx's), a set one does; a zero Parallel runs
// one probe at a time.
func TestRunAllZeroTimeoutIsNoLimit(t *testing.T) {
	tests := []struct {
		name         string
		opts         RunOptions
		wantDeadline bool
	}{
		{"zero_is_off", RunOptions{}, false},
		{"set", RunOptions{Timeout: time.Hour}, true},
		{"defaults", DefaultRunOptions(), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var running, peak atomic.Int32
			check := func(ctx context.Context, r *Result) {
				if _, ok := ctx.Deadline(); ok != tt.wantDeadline {
					r.Status, r.Error = StatusFail, fmt.Sprintf("deadline set: %v", ok)
				}
				n := running.Add(1)
				if n > peak.Load() {
					peak.Store(n)
				}
				running.Add(-1)
			}
			for _, r := range RunAll(t.Context(), fakeProbes(3, check), tt.opts) {
				if r.Status != StatusOK {
					t.Errorf("%s: %s %s, want a deadline: %v", r.Name, r.Status, r.Error, tt.wantDeadline)
				}
			}
			if tt.opts.Parallel == 0 && peak.Load() != 1 {
				t.Errorf("Parallel 0 ran %d probes at once, want 1", peak.Load())
			}
		})
	}
}
