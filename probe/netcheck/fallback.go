package netcheck

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/netip"
	"sync"
	"time"

	"github.com/relayctl/relayctl/internal/derpmap"
	"github.com/relayctl/relayctl/relay/client"
)

// maxLatencyCheckBody is how much of /derp/latency-check's body is read.
const maxLatencyCheckBody = 8 << 10

// runFallback measures the regions STUN could not, as Tailscale's client
// does when UDP is blocked: ICMP echo and HTTPS at once, keeping the lower
// latency of the two. Only regions with a DERP node that are neither Avoid
// nor NoMeasureNoHome are measured.
func (nc *netchecker) runFallback(ctx context.Context) {
	var need []int
	for _, id := range nc.m.RegionIDs() {
		reg := nc.m.Regions[id]
		if reg.Avoid || reg.NoMeasureNoHome || firstDERPNode(reg) == nil {
			continue
		}
		if _, ok := nc.rep.RegionLatency[id]; !ok {
			need = append(need, id)
		}
	}
	if len(need) == 0 {
		return
	}
	var wg sync.WaitGroup
	if !nc.opts.skipICMP {
		wg.Go(func() { nc.runICMP(ctx, need) })
	}
	wg.Go(func() { nc.runHTTPS(ctx, need) })
	wg.Wait()
}

// firstDERPNode is the region's first node that serves DERP, or nil.
func firstDERPNode(reg *derpmap.DERPRegion) *derpmap.DERPNode {
	for _, n := range reg.Nodes {
		if !n.STUNOnly {
			return n
		}
	}
	return nil
}

// runHTTPS times GET /derp/latency-check on the first DERP node of each
// region in need, all regions at once.
func (nc *netchecker) runHTTPS(ctx context.Context, need []int) {
	ctx, cancel := withLimit(ctx, nc.opts.HTTPSTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, id := range need {
		node := firstDERPNode(nc.m.Regions[id])
		wg.Go(func() {
			d, ip, err := nc.httpsLatency(ctx, node)
			ev := Event{Method: MethodHTTPS, Region: id, Target: node.Name, Latency: d, Err: err}
			if err == nil {
				ev.Target = ip.String()
				nc.mu.Lock()
				nc.recordLatencyLocked(id, MethodHTTPS, d, addrFamily(ip))
				nc.mu.Unlock()
			} else {
				nc.opts.Logger.Debug("latency check failed", "region", id, "node", node.Name, "err", err)
			}
			nc.emit(ev)
		})
	}
	wg.Wait()
}

// httpsLatency times one GET /derp/latency-check on a fresh connection,
// from the request being written to the first response byte, so that
// the TCP and TLS handshakes are not counted.
func (nc *netchecker) httpsLatency(ctx context.Context, n *derpmap.DERPNode) (time.Duration, netip.Addr, error) {
	tr := &http.Transport{
		DialContext:       client.NodeDialer(n, nc.opts.PlainHTTP),
		DisableKeepAlives: true,
		ForceAttemptHTTP2: false,
	}
	if !nc.opts.PlainHTTP {
		tr.TLSClientConfig = client.NodeTLSConfig(n, nc.opts.RootCAs, time.Now)
	}
	defer tr.CloseIdleConnections()
	u := n.URL(nc.opts.PlainHTTP) + "/latency-check"
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
