package loadgen

import (
	"slices"
	"time"
)

// Progress is a snapshot passed to a run's Progress callback.
type Progress struct {
	// Phase is "connecting", "idle-rtt", "warmup", "measuring" or
	// "draining" for throughput; "connecting" and "settling" for idle
	// runs; "measuring" for handshakes.
	Phase   string
	Elapsed time.Duration // in this phase
	Total   time.Duration // the phase's planned length; 0 when open-ended
	Count   uint64        // packets delivered, clients connected or handshakes done in this phase
	Rate    float64       // Count per second over the last interval
	Bytes   float64       // payload bytes per second over the last interval (throughput only)
}

// ProcessUsage is what one process spent during a measurement.
type ProcessUsage struct {
	CPUUsage
	// RSSBytes is the resident set size at the end of the measurement.
	RSSBytes int64 `json:"rss_bytes,omitempty"`
}

// Spread summarises per-pair rates.
type Spread struct {
	Min    float64 `json:"min"`
	Median float64 `json:"median"`
	Mean   float64 `json:"mean"`
	Max    float64 `json:"max"`
}

func spreadOf(v []float64) Spread {
	if len(v) == 0 {
		return Spread{}
	}
	s := slices.Clone(v)
	slices.Sort(s)
	var sum float64
	for _, x := range s {
		sum += x
	}
	median := s[len(s)/2]
	if len(s)%2 == 0 {
		median = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return Spread{Min: s[0], Median: median, Mean: sum / float64(len(s)), Max: s[len(s)-1]}
}

func rateIf(n, per float64) float64 {
	if per <= 0 {
		return 0
	}
	return n / per
}
