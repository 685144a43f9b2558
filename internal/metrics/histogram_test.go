package metrics

import (
	"strings"
	"sync"
	"testing"
)

// TestHistogramConcurrentObserve: observations from many goroutines at
// once, with scrapes in between, all land in the counts and the sum.
func TestHistogramConcurrentObserve(t *testing.T) {
	r := NewRegistry()
	h := r.Histogram("frames", "", []float64{1, 10})
	const writers, each = 8, 1000
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for i := range each {
				h.Observe(float64(i % 20)) // 0..19: 2 of every 20 ≤ 1, 9 more ≤ 10
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			r.WritePrometheus(&strings.Builder{})
		}
	})
	wg.Wait()
	var b strings.Builder
	if err := r.WritePrometheus(&b); err != nil {
		t.Fatal(err)
	}
	// Each goroutine's sum is 50 rounds of 0+1+…+19 = 50·190.
	for _, want := range []string{
		`frames_bucket{le="1"} 800`,
		`frames_bucket{le="10"} 4400`,
		`frames_bucket{le="+Inf"} 8000`,
		`frames_sum 76000`,
		`frames_count 8000`,
	} {
		if !strings.Contains(b.String(), want+"\n") {
			t.Errorf("exposition lacks %q:\n%s", want, b.String())
		}
	}
}

func BenchmarkHistogramObserveParallel(b *testing.B) {
	h := NewRegistry().Histogram("frames", "", []float64{1, 2, 5, 10, 50, 100})
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			h.Observe(7)
		}
	})
}

// TestHistogramVecExposition: each label set is its own series, label
// values are escaped, and le joins the series' labels.
func TestHistogramVecExposition(t *testing.T) {
	r := NewRegistry()
	v := r.HistogramVec("probe_latency_seconds", "latency", []float64{0.01, 0.1}, "region", "node")
	v.With("900", "a").Observe(0.005)
	v.With("900", "a").Observe(0.05)
	v.With("901", `b"\`).Observe(1)
	if v.With("900", "a") != v.With("900", "a") {
		t.Error("With returned two histograms for one label set")
	}
	var b strings.Builder
	if err := r.WritePrometheus(&b); err != nil {
		t.Fatal(err)
	}
	want := `# HELP probe_latency_seconds latency
# TYPE probe_latency_seconds histogram
probe_latency_seconds_bucket{region="900",node="a",le="0.01"} 1
probe_latency_seconds_bucket{region="900",node="a",le="0.1"} 2
probe_latency_seconds_bucket{region="900",node="a",le="+Inf"} 2
probe_latency_seconds_sum{region="900",node="a"} 0.055
probe_latency_seconds_count{region="900",node="a"} 2
probe_latency_seconds_bucket{region="901",node="b\"\\",le="0.01"} 0
probe_latency_seconds_bucket{region="901",node="b\"\\",le="0.1"} 0
probe_latency_seconds_bucket{region="901",node="b\"\\",le="+Inf"} 1
probe_latency_seconds_sum{region="901",node="b\"\\"} 1
probe_latency_seconds_count{region="901",node="b\"\\"} 1
`
	if b.String() != want {
		t.Errorf("exposition:\n%s\nwant:\n%s", b.String(), want)
	}
}
