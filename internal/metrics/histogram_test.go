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
