package stunserver

import "github.com/relayctl/relayctl/internal/metrics"

// serverMetrics are derper's STUN counters (spec §4.6), every label
// combination created at zero so scrapes show them before traffic.
type serverMetrics struct {
	notSTUN, readError, success, writeError *metrics.Counter
	ipv4, ipv6                              *metrics.Counter
	// noLocalAddr counts replies sent without a chosen source address on a
	// wildcard socket because the kernel gave none (derper 1.104).
	noLocalAddr *metrics.Counter
}

func newServerMetrics(reg *metrics.Registry) *serverMetrics {
	if reg == nil {
		reg = metrics.NewRegistry()
	}
	requests := reg.CounterVec("stun_requests", "STUN packets received, by what became of them", "disposition")
	families := reg.CounterVec("stun_addrfamily", "STUN binding requests answered, by client address family", "family")
	return &serverMetrics{
		notSTUN:     requests.With("not_stun"),
		readError:   requests.With("read_error"),
		success:     requests.With("success"),
		writeError:  requests.With("write_error"),
		ipv4:        families.With("ipv4"),
		ipv6:        families.With("ipv6"),
		noLocalAddr: reg.Counter("stun_no_local_addr", "STUN replies on a wildcard socket sent without the arrival address as source"),
	}
}
