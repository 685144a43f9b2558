package netcheck

import (
	"context"
	"crypto/x509"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/relayctl/relayctl/internal/derpmap"
)

// Report is the client's view of the network, with the JSON field
// names of Tailscale's netcheck report so that scripts written for
// `tailscale netcheck --format json` keep working.
type Report struct {
	Now         time.Time
	UDP         bool // a STUN round trip completed
	IPv6        bool // an IPv6 STUN round trip completed (or HTTPS over IPv6 when UDP is blocked)
	IPv4        bool // an IPv4 STUN round trip completed (or HTTPS over IPv4 when UDP is blocked)
	IPv6CanSend bool
	IPv4CanSend bool
	OSHasIPv6   bool
	ICMPv4      bool // an ICMPv4 echo round trip completed (only tried when UDP is blocked)
	// MappingVariesByDestIP is null until IPv4 replies from two different
	// servers arrived; then whether they saw different public ip:port (a
	// hard NAT).
	MappingVariesByDestIP *bool
	// UPnP, PMP and PCP say whether the default gateway offers port
	// mapping with that protocol; null when there is no gateway to ask.
	UPnP, PMP, PCP  *bool
	PreferredDERP   int // 0 when no region was measured
	RegionLatency   map[int]time.Duration
	RegionV4Latency map[int]time.Duration
	RegionV6Latency map[int]time.Duration
	// RegionLatencyMethod says what measured each RegionLatency entry:
	// "STUN", or "ICMP" / "HTTPS" when UDP is blocked. Not in
	// Tailscale's report.
	RegionLatencyMethod map[int]string
	GlobalV4Counters    map[netip.AddrPort]int `json:",omitempty"`
	GlobalV6Counters    map[netip.AddrPort]int `json:",omitempty"`
	GlobalV4            netip.AddrPort
	GlobalV6            netip.AddrPort
	// CaptivePortal is null when no node could be asked (none has
	// CanPort80) or none answered; true when an answer to
	// /generate_204 lacked the relay's challenge response.
	CaptivePortal *bool
}

// Options tune Run; DefaultOptions is the usual start. In the zero value
// neither phase has a time limit of its own.
type Options struct {
	// STUNTimeout bounds the STUN phase; 0 means no limit of its own:
	// it then waits for every region, or for ctx to end.
	STUNTimeout time.Duration
	// HTTPSTimeout bounds the HTTPS latency fallback; 0 means no limit
	// of its own.
	HTTPSTimeout time.Duration
	// PlainHTTP makes the fallback use http:// (TS_DEBUG_USE_DERP_HTTP).
	PlainHTTP bool
	// RootCAs verifies node certificates; nil means the system roots.
	RootCAs *x509.CertPool
	// BindV4 and BindV6 are the local STUN socket addresses; empty means
	// any address, any port.
	BindV4, BindV6 string
	Resolver       *net.Resolver
	Logger         *slog.Logger
	// OnEvent, when set, receives each probe as it completes (one call
	// at a time, from the probing goroutines).
	OnEvent func(Event)

	// DefaultGateway finds the gateway to probe for port mapping and
	// this host's address towards it; nil means the package's
	// DefaultGateway (Linux's /proc/net/route).
	DefaultGateway func() (gateway, self netip.Addr, err error)

	// portMapPorts replaces the NAT-PMP/PCP and SSDP ports and the SSDP
	// group (tests).
	portMapPorts *portMapPorts
	// skipICMP leaves the fallback to HTTPS alone (tests).
	skipICMP bool
	// captivePort replaces port 80 for the captive-portal check (tests).
	captivePort uint16
}

// Default time limits of the STUN phase and the HTTPS fallback: a
// region that has not answered STUN by then is not reachable over UDP
// for a client either.
const (
	DefaultSTUNTimeout  = 3 * time.Second
	DefaultHTTPSTimeout = 5 * time.Second
)

// DefaultOptions bound the STUN phase by DefaultSTUNTimeout and the HTTPS
// fallback by DefaultHTTPSTimeout.
func DefaultOptions() Options {
	return Options{STUNTimeout: DefaultSTUNTimeout, HTTPSTimeout: DefaultHTTPSTimeout}
}

// withLimit is ctx bounded by d, or only by ctx when d is 0.
func withLimit(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d > 0 {
		return context.WithTimeout(ctx, d)
	}
	return context.WithCancel(ctx)
}

// netcheckTries is how many STUN requests each region gets, spaced
// netcheckTrySpacing apart and rotating over its nodes.
const (
	netcheckTries      = 3
	netcheckTrySpacing = 100 * time.Millisecond
)

// Netcheck measures the path to every region of m: STUN over IPv4 and
// IPv6 from one fresh socket per family (so that the mapping can be
// compared across servers), per-region latency, and the preferred region
// (lowest latency × HomeParams.RegionScore). When no STUN reply arrives at
// all, it measures with ICMP echo and HTTPS GET /derp/latency-check
// instead. Alongside, it checks for a captive portal and asks the default
// gateway for UPnP, NAT-PMP and PCP.
func Run(ctx context.Context, m *derpmap.DERPMap, opts Options) (*Report, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	rep := &Report{
		Now:             time.Now().UTC(),
		RegionLatency:   map[int]time.Duration{},
		RegionV4Latency: map[int]time.Duration{},
		RegionV6Latency: map[int]time.Duration{},

		RegionLatencyMethod: map[int]string{},
	}
	if ln, err := net.ListenPacket("udp6", "[::1]:0"); err == nil {
		rep.OSHasIPv6 = true
		ln.Close()
	}
	nc := &netchecker{m: m, opts: opts, rep: rep, pending: map[[12]byte]stunTry{}}
	// The captive-portal check and the port-mapping probe run beside the
	// latency probes: they explain what the latencies cannot.
	var side sync.WaitGroup
	side.Go(func() { nc.runCaptive(ctx) })
	side.Go(func() { nc.runPortMap(ctx) })
	defer side.Wait()
	if err := nc.runSTUN(ctx); err != nil {
		return nil, err
	}
	if !rep.UDP {
		nc.runFallback(ctx)
	}
	side.Wait()
	rep.PreferredDERP = preferredRegion(m, rep.RegionLatency)
	return rep, nil
}

// preferredRegion picks the region with the lowest latency × score; ties
// go to the lower region ID.
func preferredRegion(m *derpmap.DERPMap, lat map[int]time.Duration) int {
	best, bestScore := 0, 0.0
	for _, id := range m.RegionIDs() {
		d, ok := lat[id]
		if !ok || m.Regions[id].NoMeasureNoHome {
			continue
		}
		s := float64(d) * m.RegionScore(id)
		if best == 0 || s < bestScore {
			best, bestScore = id, s
		}
	}
	return best
}

type stunTry struct {
	region int
	sent   time.Time
}

type netchecker struct {
	m    *derpmap.DERPMap
	opts Options

	emitMu sync.Mutex // serialises OnEvent

	mu      sync.Mutex
	rep     *Report
	pending map[[12]byte]stunTry
	// firstV4Server answered the first IPv4 request: GlobalV4 is what it
	// saw.
	firstV4Server netip.AddrPort
	want          map[[2]int]bool // (region, 4|6) pairs still waiting for a reply
	allIn         chan struct{}   // closed when want empties
}

// recordLatencyLocked keeps the lowest latency seen for region, and the
// method that measured it; fam (4 or 6, 0 when unknown) is the address
// family the probe used.
func (nc *netchecker) recordLatencyLocked(region int, method string, d time.Duration, fam int) {
	rep := nc.rep
	if setMin(rep.RegionLatency, region, d) {
		rep.RegionLatencyMethod[region] = method
	}
	switch fam {
	case 4:
		setMin(rep.RegionV4Latency, region, d)
		rep.IPv4 = true
	case 6:
		setMin(rep.RegionV6Latency, region, d)
		rep.IPv6 = true
	}
}

// setMin stores d under k unless a lower value is there; it reports
// whether it stored.
func setMin(m map[int]time.Duration, k int, d time.Duration) bool {
	if old, ok := m[k]; ok && old <= d {
		return false
	}
	m[k] = d
	return true
}

// addrFamily is 4 or 6 for a valid address, else 0.
func addrFamily(ip netip.Addr) int {
	switch {
	case ip.Unmap().Is4():
		return 4
	case ip.Is6():
		return 6
	}
	return 0
}
