package loadgen

import (
	"context"
	"time"
)

// ratio is a stall figure: set even when it is 0 (a complete stall), so
// that JSON readers tell it from a run without one.
func ratio(n, per float64) *float64 {
	r := rateIf(n, per)
	return &r
}

// phaseRates are the delivery rates of one phase of a stall run.
type phaseRates struct {
	pairs       Spread  // per pair
	worstWindow float64 // the pairs' lowest summed rate over a StallWindow
	mixed       float64 // the mixed sender's, to its own receiver
}

// observe runs the load for Duration and measures the pairs' rates.
func (r *throughputRun) observe(ctx context.Context, phase string, pairs []*pair) (phaseRates, error) {
	start := time.Now()
	_, before := perPair(pairs)
	mixed0 := r.mixedDelivered()
	windows := newWindowMeter(pairs)
	if err := r.wait(ctx, phase, r.cfg.Duration, windows); err != nil {
		return phaseRates{}, err
	}
	_, after := perPair(pairs)
	seconds := time.Since(start).Seconds()
	rates := make([]float64, len(pairs))
	for i := range pairs {
		rates[i] = float64(after[i]-before[i]) / seconds
	}
	return phaseRates{pairs: spreadOf(rates), worstWindow: windows.worst, mixed: float64(r.mixedDelivered()-mixed0) / seconds}, nil
}

func (r *throughputRun) mixedDelivered() uint64 {
	if r.mixed == nil {
		return 0
	}
	return r.mixed.delivered.Load()
}

// windowMeter finds the lowest summed delivery rate of some pairs over
// whole StallWindows.
type windowMeter struct {
	pairs  []*pair
	last   uint64
	lastAt time.Time
	worst  float64
	seen   bool
}

func newWindowMeter(pairs []*pair) *windowMeter {
	return &windowMeter{pairs: pairs}
}

func (w *windowMeter) start(now time.Time) {
	_, w.last = sums(w.pairs)
	w.lastAt = now
}

func (w *windowMeter) sample(now time.Time) {
	_, d := sums(w.pairs)
	if secs := now.Sub(w.lastAt).Seconds(); secs > 0 {
		if rate := float64(d-w.last) / secs; !w.seen || rate < w.worst {
			w.worst, w.seen = rate, true
		}
	}
	w.last, w.lastAt = d, now
}

// drain waits, up to drainLimit, until deliveries stop.
func (r *throughputRun) drain(ctx context.Context, live []*pair) {
	const drainLimit, quiet = 2 * time.Second, 200 * time.Millisecond
	r.progress(Progress{Phase: "draining"})
	deadline := time.Now().Add(drainLimit)
	_, last := sums(live)
	lastChange := time.Now()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for time.Now().Before(deadline) && time.Since(lastChange) < quiet {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if _, d := sums(live); d != last {
			last, lastChange = d, time.Now()
		}
	}
}

// wait lets the load run for length, reporting progress and, when windows
// is not nil, sampling it every StallWindow; it fails early if ctx ends or
// a sender fails.
func (r *throughputRun) wait(ctx context.Context, phase string, length time.Duration, windows *windowMeter) error {
	start := time.Now()
	end := time.NewTimer(length)
	defer end.Stop()
	ticks, stopTicks := progressTicks(r.cfg.ProgressInterval)
	defer stopTicks()
	var window <-chan time.Time
	if windows != nil {
		t := time.NewTicker(StallWindow)
		defer t.Stop()
		window = t.C
		windows.start(start)
	}
	_, delivered0 := sums(r.pairs)
	last, lastAt := delivered0, start
	r.progress(Progress{Phase: phase, Total: length})
	for {
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-r.sendFailed:
			return r.sendError()
		case <-end.C:
			return nil
		case now := <-window:
			windows.sample(now)
		case now := <-ticks:
			_, delivered := sums(r.pairs)
			rate := float64(delivered-last) / now.Sub(lastAt).Seconds()
			last, lastAt = delivered, now
			r.progress(Progress{Phase: phase, Elapsed: now.Sub(start), Total: length, Count: delivered - delivered0, Rate: rate, Bytes: rate * float64(r.cfg.PacketSize)})
		}
	}
}

func (r *throughputRun) progress(p Progress) {
	if r.cfg.Progress != nil {
		r.cfg.Progress(p)
	}
}

func sums(pairs []*pair) (sent, delivered uint64) {
	for _, p := range pairs {
		sent += p.sent.Load()
		delivered += p.delivered.Load()
	}
	return sent, delivered
}

func perPair(pairs []*pair) (sent, delivered []uint64) {
	for _, p := range pairs {
		sent = append(sent, p.sent.Load())
		delivered = append(delivered, p.delivered.Load())
	}
	return sent, delivered
}
