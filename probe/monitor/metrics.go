package monitor

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/relayctl/relayctl/internal/metrics"
	"github.com/relayctl/relayctl/probe/prober"
)

// Metric names exported by a running prober.
const (
	metricSuccess    = "relayctl_probe_success"
	metricRuns       = "relayctl_probe_runs_total"
	metricLatency    = "relayctl_probe_latency_seconds"
	metricCertExpiry = "relayctl_probe_cert_expiry_seconds"
	metricRounds     = "relayctl_probe_rounds_total"
	metricMapErrors  = "relayctl_probe_map_load_errors_total"
)

// probeLabels label every per-probe series; peer is empty except for mesh
// probes.
var probeLabels = []string{"region", "node", "peer", "class"}

// latencyBuckets are the histogram's upper bounds in seconds, from a
// loopback STUN reply to a slow intercontinental TLS handshake.
var latencyBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// Metrics records probe results as Prometheus series.
type Metrics struct {
	reg        *metrics.Registry
	success    *metrics.GaugeVec
	runs       *metrics.CounterVec
	certExpiry *metrics.GaugeVec
	rounds     *metrics.Counter
	mapErrors  *metrics.Counter
	latency    *histogramVec
}

// NewMetrics registers the prober's series in reg.
func NewMetrics(reg *metrics.Registry) *Metrics {
	return &Metrics{
		reg:        reg,
		success:    reg.GaugeVec(metricSuccess, "1 if the probe's last run passed (ok or warn), 0 if it failed", probeLabels...),
		runs:       reg.CounterVec(metricRuns, "probe runs by result (ok, warn, fail)", append(slices.Clone(probeLabels), "result")...),
		certExpiry: reg.GaugeVec(metricCertExpiry, "seconds until the node's TLS certificate expires (negative once expired)", "region", "node"),
		rounds:     reg.Counter(metricRounds, "completed probe rounds"),
		mapErrors:  reg.Counter(metricMapErrors, "DERP map loads that failed (the previous map stays in use)"),
		latency: &histogramVec{
			name: metricLatency, help: "latency of passing probes: STUN and DERP round trips, TLS handshakes, bandwidth transfers",
			labels: probeLabels, bounds: latencyBuckets, series: map[string]*histogramSeries{},
		},
	}
}

// Record adds one result. Skipped probes leave no series.
func (m *Metrics) Record(r prober.Result) {
	if r.Status == prober.StatusSkip {
		return
	}
	values := []string{strconv.Itoa(r.Region), r.Node, r.Peer, string(r.Class)}
	ok := int64(0)
	if r.Passed() {
		ok = 1
		m.latency.observe(values, r.Latency.Seconds())
	}
	m.success.With(values...).Set(ok)
	m.runs.With(append(values, string(r.Status))...).Inc()
	if r.Class == prober.ClassTLS && !r.CertExpiry.IsZero() {
		m.certExpiry.With(values[0], r.Node).Set(int64(math.Floor(r.CertExpiry.Sub(r.End).Seconds())))
	}
}

// WritePrometheus writes every series in the text exposition format, under
// the conventional names /metrics serves (metrics.Registry.WriteConventional).
func (m *Metrics) WritePrometheus(w io.Writer) error {
	if err := m.reg.WriteConventional(w); err != nil {
		return err
	}
	return m.latency.write(w)
}

// histogramVec is a labelled histogram; internal/metrics has only
// unlabelled ones.
type histogramVec struct {
	name, help string
	labels     []string
	bounds     []float64

	mu     sync.Mutex
	series map[string]*histogramSeries // keyed by rendered labels
}

type histogramSeries struct {
	counts []int64 // per bound, plus +Inf; not cumulative
	sum    float64
}

func (h *histogramVec) observe(values []string, v float64) {
	ls := renderLabelPairs(h.labels, values)
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.series[ls]
	if s == nil {
		s = &histogramSeries{counts: make([]int64, len(h.bounds)+1)}
		h.series[ls] = s
	}
	i, _ := slices.BinarySearch(h.bounds, v)
	s.counts[i]++
	s.sum += v
}

func (h *histogramVec) write(w io.Writer) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s histogram\n", h.name, h.help, h.name)
	keys := make([]string, 0, len(h.series))
	for k := range h.series {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		s := h.series[k]
		var cum int64
		for i, bound := range h.bounds {
			cum += s.counts[i]
			fmt.Fprintf(&b, "%s_bucket{%s,le=%q} %d\n", h.name, k, strconv.FormatFloat(bound, 'g', -1, 64), cum)
		}
		cum += s.counts[len(h.bounds)]
		fmt.Fprintf(&b, "%s_bucket{%s,le=\"+Inf\"} %d\n", h.name, k, cum)
		fmt.Fprintf(&b, "%s_sum{%s} %s\n%s_count{%s} %d\n", h.name, k, strconv.FormatFloat(s.sum, 'g', -1, 64), h.name, k, cum)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

var labelValueEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

// renderLabelPairs renders name="value" pairs without braces.
func renderLabelPairs(names, values []string) string {
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = n + `="` + labelValueEscaper.Replace(values[i]) + `"`
	}
	return strings.Join(parts, ",")
}
