// Package metrics is a small Prometheus registry: counters, gauges and
// histograms updated with atomics on hot paths, and the text exposition
// format for scraping. It exists so the relay needs no metrics dependency
// and pays one atomic add per event.
package metrics

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Registry holds named metric families.
type Registry struct {
	mu       sync.Mutex
	families map[string]*family
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{families: map[string]*family{}} }

type kind string

const (
	kindCounter   kind = "counter"
	kindGauge     kind = "gauge"
	kindHistogram kind = "histogram"
)

type family struct {
	name, help string
	kind       kind
	labels     []string
	mu         sync.Mutex
	series     map[string]sample // keyed by rendered label set
}

// sample is anything that can render its value lines.
type sample interface {
	write(w io.Writer, name, labels string)
}

func (r *Registry) family(name, help string, k kind, labels []string) *family {
	r.mu.Lock()
	defer r.mu.Unlock()
	if f, ok := r.families[name]; ok {
		if f.kind != k || !slices.Equal(f.labels, labels) {
			panic(fmt.Sprintf("metrics: %s registered twice with different shapes", name))
		}
		return f
	}
	f := &family{name: name, help: help, kind: k, labels: labels, series: map[string]sample{}}
	r.families[name] = f
	return f
}

func (f *family) get(values []string, mk func() sample) sample {
	if len(values) != len(f.labels) {
		panic(fmt.Sprintf("metrics: %s wants %d label values, got %d", f.name, len(f.labels), len(values)))
	}
	ls := renderLabels(f.labels, values)
	f.mu.Lock()
	defer f.mu.Unlock()
	if s, ok := f.series[ls]; ok {
		return s
	}
	s := mk()
	f.series[ls] = s
	return s
}

func renderLabels(names, values []string) string {
	if len(names) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteByte('{')
	for i, n := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(n)
		b.WriteString(`="`)
		b.WriteString(escapeLabel(values[i]))
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

func escapeLabel(s string) string { return labelEscaper.Replace(s) }

// Counter only goes up.
type Counter struct{ v atomic.Int64 }

// Add adds n (n ≥ 0).
func (c *Counter) Add(n int64) { c.v.Add(n) }

// Inc adds one.
func (c *Counter) Inc() { c.v.Add(1) }

// Value returns the current count.
func (c *Counter) Value() int64 { return c.v.Load() }

func (c *Counter) write(w io.Writer, name, labels string) {
	fmt.Fprintf(w, "%s%s %d\n", name, labels, c.v.Load())
}

// Gauge goes up and down.
type Gauge struct{ v atomic.Int64 }

// Add adds n (may be negative).
func (g *Gauge) Add(n int64) { g.v.Add(n) }

// Set sets the value.
func (g *Gauge) Set(n int64) { g.v.Store(n) }

// Value returns the current value.
func (g *Gauge) Value() int64 { return g.v.Load() }

func (g *Gauge) write(w io.Writer, name, labels string) {
	fmt.Fprintf(w, "%s%s %d\n", name, labels, g.v.Load())
}

type funcSample func() float64

func (f funcSample) write(w io.Writer, name, labels string) {
	fmt.Fprintf(w, "%s%s %s\n", name, labels, formatFloat(f()))
}

func formatFloat(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// Counter registers (or returns) an unlabelled counter.
func (r *Registry) Counter(name, help string) *Counter {
	return r.family(name, help, kindCounter, nil).get(nil, func() sample { return new(Counter) }).(*Counter)
}

// Gauge registers (or returns) an unlabelled gauge.
func (r *Registry) Gauge(name, help string) *Gauge {
	return r.family(name, help, kindGauge, nil).get(nil, func() sample { return new(Gauge) }).(*Gauge)
}

// GaugeFunc registers a gauge computed at scrape time.
func (r *Registry) GaugeFunc(name, help string, f func() float64) {
	r.family(name, help, kindGauge, nil).get(nil, func() sample { return funcSample(f) })
}

// CounterFunc registers a counter computed at scrape time.
func (r *Registry) CounterFunc(name, help string, f func() float64) {
	r.family(name, help, kindCounter, nil).get(nil, func() sample { return funcSample(f) })
}

// CounterVec is a counter family with labels.
type CounterVec struct{ f *family }

// CounterVec registers a labelled counter family.
func (r *Registry) CounterVec(name, help string, labels ...string) *CounterVec {
	return &CounterVec{r.family(name, help, kindCounter, labels)}
}

// With returns the counter for the label values, creating it at zero. Look
// it up once and keep it: With takes a lock.
func (v *CounterVec) With(values ...string) *Counter {
	return v.f.get(values, func() sample { return new(Counter) }).(*Counter)
}

// GaugeVec is a gauge family with labels.
type GaugeVec struct{ f *family }

// GaugeVec registers a labelled gauge family.
func (r *Registry) GaugeVec(name, help string, labels ...string) *GaugeVec {
	return &GaugeVec{r.family(name, help, kindGauge, labels)}
}

// With returns the gauge for the label values, creating it at zero.
func (v *GaugeVec) With(values ...string) *Gauge {
	return v.f.get(values, func() sample { return new(Gauge) }).(*Gauge)
}

// Histogram counts observations into cumulative buckets. Observe is
// lock-free: writers on the packet path never wait for each other or for
// a scrape.
type Histogram struct {
	bounds  []float64
	counts  []atomic.Int64 // one per bound, plus +Inf
	sumBits atomic.Uint64  // float64 bits of the sum of observations
}

// Histogram registers an unlabelled histogram with the given upper bounds.
func (r *Registry) Histogram(name, help string, bounds []float64) *Histogram {
	return r.family(name, help, kindHistogram, nil).get(nil, newHistogram(bounds)).(*Histogram)
}

func newHistogram(bounds []float64) func() sample {
	return func() sample {
		return &Histogram{bounds: bounds, counts: make([]atomic.Int64, len(bounds)+1)}
	}
}

// HistogramVec is a histogram family with labels, every series with the
// same bounds.
type HistogramVec struct {
	f      *family
	bounds []float64
}

// HistogramVec registers a labelled histogram family with the given upper
// bounds.
func (r *Registry) HistogramVec(name, help string, bounds []float64, labels ...string) *HistogramVec {
	return &HistogramVec{f: r.family(name, help, kindHistogram, labels), bounds: bounds}
}

// With returns the histogram for the label values, creating it empty.
// Look it up once and keep it: With takes a lock.
func (v *HistogramVec) With(values ...string) *Histogram {
	return v.f.get(values, newHistogram(v.bounds)).(*Histogram)
}

// Observe records one value.
func (h *Histogram) Observe(v float64) {
	i, _ := slices.BinarySearch(h.bounds, v)
	h.counts[i].Add(1)
	for {
		old := h.sumBits.Load()
		if h.sumBits.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			return
		}
	}
}

// Sum returns the sum of the observed values.
func (h *Histogram) Sum() float64 { return math.Float64frombits(h.sumBits.Load()) }

// write renders the series; labels is "" or `{a="b",…}`, and each bucket
// adds its le label to them.
func (h *Histogram) write(w io.Writer, name, labels string) {
	le := "{le="
	if labels != "" {
		le = strings.TrimSuffix(labels, "}") + ",le="
	}
	var cum int64
	for i, b := range h.bounds {
		cum += h.counts[i].Load()
		fmt.Fprintf(w, "%s_bucket%s\"%s\"} %d\n", name, le, formatFloat(b), cum)
	}
	cum += h.counts[len(h.bounds)].Load()
	fmt.Fprintf(w, "%s_bucket%s\"+Inf\"} %d\n", name, le, cum)
	fmt.Fprintf(w, "%s_sum%s %s\n%s_count%s %d\n", name, labels, formatFloat(h.Sum()), name, labels, cum)
}

// WritePrometheus writes every family in the text exposition format,
// sorted by name so scrapes diff cleanly, under the names they were
// registered with (derper's, for /debug/varz); WriteConventional is the
// /metrics form.
func (r *Registry) WritePrometheus(w io.Writer) error {
	return r.write(w, func(f *family) string { return f.name })
}

// write writes every family under the name nameOf gives it.
func (r *Registry) write(w io.Writer, nameOf func(*family) string) error {
	r.mu.Lock()
	fams := make([]*family, 0, len(r.families))
	for _, f := range r.families {
		fams = append(fams, f)
	}
	r.mu.Unlock()
	slices.SortFunc(fams, func(a, b *family) int { return strings.Compare(nameOf(a), nameOf(b)) })
	ew := &errWriter{w: w}
	for _, f := range fams {
		name := nameOf(f)
		if f.help != "" {
			fmt.Fprintf(ew, "# HELP %s %s\n", name, strings.ReplaceAll(f.help, "\n", " "))
		}
		fmt.Fprintf(ew, "# TYPE %s %s\n", name, f.kind)
		f.mu.Lock()
		keys := make([]string, 0, len(f.series))
		for k := range f.series {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			f.series[k].write(ew, name, k)
		}
		f.mu.Unlock()
	}
	return ew.err
}

// ContentType is the Prometheus text format's media type.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}
