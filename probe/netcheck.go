package probe

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/relayctl/relayctl/relay/stunserver"
)

// NetcheckReport is the client's view of the network, with the JSON field
// names of Tailscale's netcheck report so that scripts written for
// `tailscale netcheck --format json` keep working.
type NetcheckReport struct {
	Now         time.Time
	UDP         bool // a STUN round trip completed
	IPv6        bool // an IPv6 STUN round trip completed (or HTTPS over IPv6 when UDP is blocked)
	IPv4        bool // an IPv4 STUN round trip completed (or HTTPS over IPv4 when UDP is blocked)
	IPv6CanSend bool
	IPv4CanSend bool
	OSHasIPv6   bool
	ICMPv4      bool // always false: relayctl sends no ICMP
	// MappingVariesByDestIP is null until two IPv4 replies arrived; then
	// whether they saw different public ip:port (a hard NAT).
	MappingVariesByDestIP *bool
	UPnP, PMP, PCP        *bool // not checked: always null
	PreferredDERP         int   // 0 when no region was measured
	RegionLatency         map[int]time.Duration
	RegionV4Latency       map[int]time.Duration
	RegionV6Latency       map[int]time.Duration
	GlobalV4Counters      map[netip.AddrPort]int `json:",omitempty"`
	GlobalV6Counters      map[netip.AddrPort]int `json:",omitempty"`
	GlobalV4              netip.AddrPort
	GlobalV6              netip.AddrPort
	// CaptivePortal is null when no node could be asked (none has
	// CanPort80) or none answered; true when an answer to
	// /generate_204 lacked the relay's challenge response.
	CaptivePortal *bool
}

// NetcheckOptions tune Netcheck. The zero value is usable.
type NetcheckOptions struct {
	// STUNTimeout bounds the STUN phase; 0 means 3 s.
	STUNTimeout time.Duration
	// HTTPSTimeout bounds the HTTPS latency fallback; 0 means 5 s.
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
	OnEvent func(NetcheckEvent)

	// captivePort replaces port 80 for the captive-portal check (tests).
	captivePort uint16
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
// all, it times HTTPS GET /derp/latency-check instead.
func Netcheck(ctx context.Context, m *DERPMap, opts NetcheckOptions) (*NetcheckReport, error) {
	if opts.STUNTimeout <= 0 {
		opts.STUNTimeout = 3 * time.Second
	}
	if opts.HTTPSTimeout <= 0 {
		opts.HTTPSTimeout = 5 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	p := New(Config{PlainHTTP: opts.PlainHTTP, RootCAs: opts.RootCAs, Resolver: opts.Resolver})
	rep := &NetcheckReport{
		Now:             time.Now().UTC(),
		RegionLatency:   map[int]time.Duration{},
		RegionV4Latency: map[int]time.Duration{},
		RegionV6Latency: map[int]time.Duration{},
	}
	if ln, err := net.ListenPacket("udp6", "[::1]:0"); err == nil {
		rep.OSHasIPv6 = true
		ln.Close()
	}
	nc := &netchecker{p: p, m: m, opts: opts, rep: rep, pending: map[[12]byte]stunTry{}}
	// The captive-portal check runs beside the latency probes: it is what
	// explains them failing.
	var side sync.WaitGroup
	side.Go(func() { nc.runCaptive(ctx) })
	defer side.Wait()
	if err := nc.runSTUN(ctx); err != nil {
		return nil, err
	}
	if !rep.UDP {
		nc.runHTTPS(ctx)
	}
	side.Wait()
	rep.PreferredDERP = preferredRegion(m, rep.RegionLatency)
	return rep, nil
}

// preferredRegion picks the region with the lowest latency × score; ties
// go to the lower region ID.
func preferredRegion(m *DERPMap, lat map[int]time.Duration) int {
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
	p    *Prober
	m    *DERPMap
	opts NetcheckOptions

	emitMu sync.Mutex // serialises OnEvent

	mu      sync.Mutex
	rep     *NetcheckReport
	pending map[[12]byte]stunTry
	want    map[[2]int]bool // (region, 4|6) pairs still waiting for a reply
	allIn   chan struct{}   // closed when want empties
}

func (nc *netchecker) runSTUN(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, nc.opts.STUNTimeout)
	defer cancel()
	conn4, err4 := net.ListenPacket("udp4", nc.opts.BindV4)
	bind6 := nc.opts.BindV6
	if bind6 == "" {
		bind6 = "[::]:0"
	}
	conn6, err6 := net.ListenPacket("udp6", bind6)
	if err4 != nil && err6 != nil {
		return fmt.Errorf("netcheck: no UDP socket: %v; %v", err4, err6)
	}
	socks := map[int]*net.UDPConn{}
	if err4 == nil {
		socks[4] = conn4.(*net.UDPConn)
	}
	if err6 == nil {
		socks[6] = conn6.(*net.UDPConn)
	}
	var readers sync.WaitGroup
	for fam, c := range socks {
		defer c.Close()
		readers.Go(func() { nc.readReplies(c, fam) })
		context.AfterFunc(ctx, func() { c.SetReadDeadline(time.Unix(1, 0)) })
	}

	// Targets are resolved up front so that DNS time is not latency.
	type target struct {
		region int
		fam    int
		addr   netip.AddrPort
	}
	var targets [netcheckTries][]target
	nc.want = map[[2]int]bool{}
	for _, id := range nc.m.RegionIDs() {
		reg := nc.m.Regions[id]
		if reg.NoMeasureNoHome || len(reg.Nodes) == 0 {
			continue
		}
		for try := range netcheckTries {
			n := reg.Nodes[try%len(reg.Nodes)]
			if n.STUNPortOrDefault() <= 0 {
				continue
			}
			for _, fam := range []int{4, 6} {
				if socks[fam] == nil {
					continue
				}
				ip, err := nc.p.familyTarget(ctx, n, fam == 6)
				if err != nil {
					continue
				}
				targets[try] = append(targets[try], target{id, fam, netip.AddrPortFrom(ip, uint16(n.STUNPortOrDefault()))})
				nc.want[[2]int{id, fam}] = true
			}
		}
	}
	nc.allIn = make(chan struct{})
	if len(nc.want) == 0 {
		close(nc.allIn)
	}
	for try := range netcheckTries {
		for _, t := range targets[try] {
			nc.send(socks[t.fam], t.region, t.fam, t.addr)
		}
		if try < netcheckTries-1 {
			waitUntil(ctx, time.Now().Add(netcheckTrySpacing))
		}
	}
	select {
	case <-nc.allIn:
	case <-ctx.Done():
	}
	cancel()
	readers.Wait()
	return nil
}

func (nc *netchecker) send(c *net.UDPConn, region, fam int, dst netip.AddrPort) {
	var tx [12]byte
	rand.Read(tx[:])
	nc.mu.Lock()
	nc.pending[tx] = stunTry{region: region, sent: time.Now()}
	nc.mu.Unlock()
	_, err := c.WriteToUDPAddrPort(stunserver.TailscaleRequest(tx), dst)
	nc.mu.Lock()
	defer nc.mu.Unlock()
	if err == nil {
		if fam == 4 {
			nc.rep.IPv4CanSend = true
		} else {
			nc.rep.IPv6CanSend = true
		}
	}
}

func (nc *netchecker) readReplies(c *net.UDPConn, fam int) {
	buf := make([]byte, 1500)
	for {
		n, _, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				return
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		at := time.Now()
		tx, mapped, err := stunserver.ParseResponse(buf[:n])
		if err != nil {
			continue
		}
		nc.record(tx, mapped, fam, at)
	}
}

func (nc *netchecker) record(tx [12]byte, mapped netip.AddrPort, fam int, at time.Time) {
	nc.mu.Lock()
	defer nc.mu.Unlock()
	try, ok := nc.pending[tx]
	if !ok {
		return
	}
	delete(nc.pending, tx)
	d := at.Sub(try.sent)
	rep := nc.rep
	rep.UDP = true
	setMin(rep.RegionLatency, try.region, d)
	if fam == 4 {
		setMin(rep.RegionV4Latency, try.region, d)
		rep.IPv4 = true
		if rep.GlobalV4Counters == nil {
			rep.GlobalV4Counters = map[netip.AddrPort]int{}
		}
		rep.GlobalV4Counters[mapped]++
		if !rep.GlobalV4.IsValid() {
			rep.GlobalV4 = mapped
		} else {
			varies := rep.GlobalV4 != mapped
			if rep.MappingVariesByDestIP == nil || varies {
				rep.MappingVariesByDestIP = &varies
			}
		}
	} else {
		setMin(rep.RegionV6Latency, try.region, d)
		rep.IPv6 = true
		if rep.GlobalV6Counters == nil {
			rep.GlobalV6Counters = map[netip.AddrPort]int{}
		}
		rep.GlobalV6Counters[mapped]++
		if !rep.GlobalV6.IsValid() {
			rep.GlobalV6 = mapped
		}
	}
	key := [2]int{try.region, fam}
	if nc.want[key] {
		delete(nc.want, key)
		if len(nc.want) == 0 {
			close(nc.allIn)
		}
	}
}

func setMin(m map[int]time.Duration, k int, d time.Duration) {
	if old, ok := m[k]; !ok || d < old {
		m[k] = d
	}
}

// maxLatencyCheckBody is how much of /derp/latency-check's body is read.
const maxLatencyCheckBody = 8 << 10

// runHTTPS times GET /derp/latency-check on the first DERP node of each
// region that is neither Avoid nor NoMeasureNoHome, all regions at once.
func (nc *netchecker) runHTTPS(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, nc.opts.HTTPSTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, id := range nc.m.RegionIDs() {
		reg := nc.m.Regions[id]
		if reg.Avoid || reg.NoMeasureNoHome {
			continue
		}
		var node *DERPNode
		for _, n := range reg.Nodes {
			if !n.STUNOnly {
				node = n
				break
			}
		}
		if node == nil {
			continue
		}
		wg.Go(func() {
			d, ip, err := nc.httpsLatency(ctx, node)
			if err != nil {
				nc.opts.Logger.Debug("latency check failed", "region", id, "node", node.Name, "err", err)
				return
			}
			nc.mu.Lock()
			defer nc.mu.Unlock()
			setMin(nc.rep.RegionLatency, id, d)
			if ip.Is4() {
				setMin(nc.rep.RegionV4Latency, id, d)
				nc.rep.IPv4 = true
			} else if ip.Is6() {
				setMin(nc.rep.RegionV6Latency, id, d)
				nc.rep.IPv6 = true
			}
		})
	}
	wg.Wait()
}

// httpsLatency times one GET /derp/latency-check on a fresh connection,
// from the request being written to the first response byte, so that
// the TCP and TLS handshakes are not counted.
func (nc *netchecker) httpsLatency(ctx context.Context, n *DERPNode) (time.Duration, netip.Addr, error) {
	tr := &http.Transport{
		DialContext:       n.clientNode().Dialer(),
		DisableKeepAlives: true,
		ForceAttemptHTTP2: false,
	}
	if !nc.opts.PlainHTTP {
		tr.TLSClientConfig = n.clientNode().TLSConfig(nc.opts.RootCAs, time.Now)
	}
	defer tr.CloseIdleConnections()
	scheme := "https"
	if nc.opts.PlainHTTP {
		scheme = "http"
	}
	u := scheme + "://" + net.JoinHostPort(n.HostName, strconv.Itoa(n.DERPPortFor(nc.opts.PlainHTTP))) + "/derp/latency-check"
	var wrote, first time.Time
	var remote netip.Addr
	trace := &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) {
			if ta, ok := info.Conn.RemoteAddr().(*net.TCPAddr); ok {
				remote = ta.AddrPort().Addr().Unmap()
			}
		},
		WroteRequest:         func(httptrace.WroteRequestInfo) { wrote = time.Now() },
		GotFirstResponseByte: func() { first = time.Now() },
	}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodGet, u, nil)
	if err != nil {
		return 0, netip.Addr{}, err
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return 0, netip.Addr{}, err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxLatencyCheckBody))
	if resp.StatusCode > 299 {
		return 0, netip.Addr{}, fmt.Errorf("%s: %s", u, resp.Status)
	}
	if wrote.IsZero() || first.IsZero() {
		return 0, netip.Addr{}, fmt.Errorf("%s: no timing", u)
	}
	return first.Sub(wrote), remote, nil
}
