package monitor

import (
	"io"
	"math"
	"slices"
	"strconv"

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

// probeMetrics records probe results as Prometheus series.
type probeMetrics struct {
	reg        *metrics.Registry
	success    *metrics.GaugeVec
	runs       *metrics.CounterVec
	certExpiry *metrics.GaugeVec
	rounds     *metrics.Counter
	mapErrors  *metrics.Counter
	latency    *metrics.HistogramVec
}

// newProbeMetrics registers the prober's series in reg.
func newProbeMetrics(reg *metrics.Registry) *probeMetrics {
	return &probeMetrics{
		reg:        reg,
		success:    reg.GaugeVec(metricSuccess, "1 if the probe's last run passed (ok or warn), 0 if it failed", probeLabels...),
		runs:       reg.CounterVec(metricRuns, "probe runs by result (ok, warn, fail)", append(slices.Clone(probeLabels), "result")...),
		certExpiry: reg.GaugeVec(metricCertExpiry, "seconds until the node's TLS certificate expires (negative once expired)", "region", "node"),
		rounds:     reg.Counter(metricRounds, "completed probe rounds"),
		mapErrors:  reg.Counter(metricMapErrors, "DERP map loads that failed (the previous map stays in use)"),
		latency:    reg.HistogramVec(metricLatency, "latency of passing probes: STUN and DERP round trips, TLS handshakes, bandwidth transfers", latencyBuckets, probeLabels...),
	}
}

// record adds one result. Skipped probes leave no series.
func (m *probeMetrics) record(r prober.Result) {
	if r.Status == prober.StatusSkip {
		return
	}
	values := []string{strconv.Itoa(r.Region), r.Node, r.Peer, string(r.Class)}
	ok := int64(0)
	if r.Passed() {
		ok = 1
		m.latency.With(values...).Observe(r.Latency.Seconds())
	}
	m.success.With(values...).Set(ok)
	m.runs.With(append(values, string(r.Status))...).Inc()
	if r.Class == prober.ClassTLS && !r.CertExpiry.IsZero() {
		m.certExpiry.With(values[0], r.Node).Set(int64(math.Floor(r.CertExpiry.Sub(r.End).Seconds())))
	}
}

// writePrometheus writes every series in the text exposition format, under
// the conventional names /metrics serves (metrics.Registry.WriteConventional).
func (m *probeMetrics) writePrometheus(w io.Writer) error {
	return m.reg.WriteConventional(w)
}
