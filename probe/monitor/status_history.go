package monitor

import (
	"slices"
	"time"

	"github.com/relayctl/relayctl/probe/prober"
)

// The status page's sparkline covers the last sparkSpan of a probe's
// results, at most maxSparkSamples of them (an hour at one round every
// five seconds), so its memory per probe is bounded whatever the interval.
const (
	sparkSpan       = time.Hour
	maxSparkSamples = 720
)

// latencySample is one result as the sparkline draws it.
type latencySample struct {
	at      time.Time
	latency time.Duration
	status  prober.Status
}

// latencyWindow is a probe's results of the last sparkSpan, oldest first.
type latencyWindow struct {
	samples []latencySample
}

func (w *latencyWindow) add(r prober.Result) {
	w.samples = append(w.samples, latencySample{at: r.End, latency: r.Latency, status: r.Status})
	cut := r.End.Add(-sparkSpan)
	drop := 0
	for drop < len(w.samples) && w.samples[drop].at.Before(cut) {
		drop++
	}
	drop = max(drop, len(w.samples)-maxSparkSamples)
	if drop > 0 {
		w.samples = slices.Delete(w.samples, 0, drop)
	}
}
