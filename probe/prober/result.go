package prober

import (
	"fmt"
	"time"
)

// Class names what a probe checks. It is the "class" label in metrics.
type Class string

// Probe classes, in the order a node's results are shown.
const (
	ClassSTUN4     Class = "stun4"     // STUN round trip over IPv4
	ClassSTUN6     Class = "stun6"     // STUN round trip over IPv6
	ClassTLS       Class = "tls"       // TLS handshake, certificate and expiry
	ClassDERP      Class = "derp"      // two clients on one node exchange a packet
	ClassMesh      Class = "mesh"      // a packet from a client on one node to a client on another
	ClassBandwidth Class = "bandwidth" // bulk transfer between two clients on one node
)

var classOrder = map[Class]int{ClassSTUN4: 0, ClassSTUN6: 1, ClassTLS: 2, ClassDERP: 3, ClassMesh: 4, ClassBandwidth: 5}

// Status is a probe's verdict.
type Status string

// Verdicts. Only StatusFail makes a run unhealthy: a warning (a
// certificate that expires within CertWarnBefore) and a skipped probe
// (nothing to check, such as plain-HTTP debug mode for TLS) still pass.
const (
	StatusOK   Status = "ok"
	StatusWarn Status = "warn"
	StatusFail Status = "fail"
	StatusSkip Status = "skip"
)

// Result is the outcome of one probe run.
type Result struct {
	Name       string `json:"name"` // e.g. "900/900a/tls", "900/900a->900b/mesh"
	Region     int    `json:"region"`
	RegionCode string `json:"region_code,omitempty"`
	Node       string `json:"node"`
	Peer       string `json:"peer,omitempty"` // the destination node of a mesh probe
	Class      Class  `json:"class"`
	Status     Status `json:"status"`
	// Latency is the STUN round trip, the TLS handshake, the DERP packet
	// round trip through the relay(s), or the bandwidth transfer time.
	Latency time.Duration `json:"latency_ns,omitempty"`
	Error   string        `json:"error,omitempty"`
	// Detail is what a passing probe learned (mapped address, certificate
	// expiry, throughput) or why it was skipped.
	Detail string `json:"detail,omitempty"`
	// CertExpiry is the leaf certificate's NotAfter (TLS probes).
	CertExpiry time.Time `json:"cert_expiry,omitzero"`
	// BytesPerSecond is the measured throughput (bandwidth probes).
	BytesPerSecond float64   `json:"bytes_per_second,omitempty"`
	Start          time.Time `json:"start"`
	End            time.Time `json:"end"`
}

// Passed reports whether the result does not count as a failure.
func (r Result) Passed() bool { return r.Status != StatusFail }

// Summary counts results by status.
type Summary struct {
	Total int `json:"total"`
	OK    int `json:"ok"`
	Warn  int `json:"warn"`
	Fail  int `json:"fail"`
	Skip  int `json:"skip"`
}

// Summarize counts results by status.
func Summarize(rs []Result) Summary {
	s := Summary{Total: len(rs)}
	for _, r := range rs {
		switch r.Status {
		case StatusOK:
			s.OK++
		case StatusWarn:
			s.Warn++
		case StatusFail:
			s.Fail++
		case StatusSkip:
			s.Skip++
		}
	}
	return s
}

func (s Summary) String() string {
	return fmt.Sprintf("%d probes: %d ok, %d warn, %d failed, %d skipped", s.Total, s.OK, s.Warn, s.Fail, s.Skip)
}

// probeName builds the stable name of a probe: region ID, node (or
// from->to for mesh probes) and class.
func probeName(region int, node, peer string, c Class) string {
	if peer != "" {
		return fmt.Sprintf("%d/%s->%s/%s", region, node, peer, c)
	}
	return fmt.Sprintf("%d/%s/%s", region, node, c)
}

// Report is the outcome of one round, as `relayctl probe --once --json`
// prints it.
type Report struct {
	Time    time.Time `json:"time"`
	DERPMap string    `json:"derp_map"`
	OK      bool      `json:"ok"` // no probe failed
	Summary Summary   `json:"summary"`
	Results []Result  `json:"results"`
}

// NewReport summarizes results from the map at source.
func NewReport(source string, at time.Time, results []Result) Report {
	s := Summarize(results)
	return Report{Time: at, DERPMap: source, OK: s.Fail == 0, Summary: s, Results: results}
}
