package netcheck

import "time"

// Methods name what measured a region's latency (Report.
// RegionLatencyMethod) and, with the other probes, what a Event
// reports on.
const (
	MethodSTUN    = "STUN"
	MethodICMP    = "ICMP"
	MethodHTTPS   = "HTTPS"
	MethodPortMap = "portmap"
	MethodCaptive = "captive"
)

// Event is one probe of a netcheck run, reported through
// Options.OnEvent as soon as it completes: the incremental view of
// the report being built.
type Event struct {
	Method  string        // one of the Method constants
	Region  int           // the region probed; 0 for the gateway
	Target  string        // what was asked: ip:port, URL or gateway
	Latency time.Duration // the round trip, when one was measured
	Detail  string        // what the answer said
	Err     error         // why there was no answer
}

// emit hands ev to OnEvent, one event at a time.
func (nc *netchecker) emit(ev Event) {
	if nc.opts.OnEvent == nil {
		return
	}
	nc.emitMu.Lock()
	defer nc.emitMu.Unlock()
	nc.opts.OnEvent(ev)
}
