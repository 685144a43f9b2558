package netcheck

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/relayctl/relayctl/relay/client"
)

// Captive-portal detection, as Tailscale's client does it: GET
// http://<node IPv4>/generate_204 on DERP nodes that say CanPort80, with a
// challenge header that a DERP server echoes back. A portal that answers
// in the server's place (a login page, a redirect, or a bare 204 of its
// own) does not know to echo it.
const (
	captiveChallengeHeader = "X-Tailscale-Challenge"
	captiveResponseHeader  = "X-Tailscale-Response"
	// captiveTimeout bounds each request; a portal sits on the LAN, so
	// a short wait is enough.
	captiveTimeout = 3 * time.Second
	// captiveMaxEndpoints is how many nodes are asked at once.
	captiveMaxEndpoints = 5
	captiveDefaultPort  = 80
)

// captiveEndpoint is one node's /generate_204.
type captiveEndpoint struct {
	region int
	url    string
	host   string // the URL's host: the challenge is "ts_" + host
}

// verdict is what one endpoint's answer says.
type captiveVerdict int

const (
	captiveUnknown captiveVerdict = iota // no answer: says nothing
	captiveClean                         // the relay answered
	captiveFound                         // someone else answered
)

// captiveEndpoints lists up to captiveMaxEndpoints nodes to ask: nodes
// with CanPort80 and an IPv4 address, in regions a client may measure,
// by region ID.
func (nc *netchecker) captiveEndpoints(ctx context.Context) []captiveEndpoint {
	port := nc.opts.captivePort
	if port == 0 {
		port = captiveDefaultPort
	}
	var eps []captiveEndpoint
	for _, id := range nc.m.RegionIDs() {
		reg := nc.m.Regions[id]
		if reg.Avoid || reg.NoMeasureNoHome {
			continue
		}
		for _, n := range reg.Nodes {
			if !n.CanPort80 || len(eps) == captiveMaxEndpoints {
				continue
			}
			ip, err := client.NodeFamilyAddr(ctx, nc.opts.Resolver, n, false)
			if err != nil {
				continue
			}
			host := ip.String()
			if port != captiveDefaultPort {
				host = net.JoinHostPort(host, strconv.Itoa(int(port)))
			}
			eps = append(eps, captiveEndpoint{region: id, host: host, url: "http://" + host + "/generate_204"})
		}
	}
	return eps
}

// runCaptive asks every endpoint at once and sets CaptivePortal: true when
// any answer looks intercepted, false when at least one relay answered
// properly and none looked intercepted, null when nothing answered or no
// node offers port 80.
func (nc *netchecker) runCaptive(ctx context.Context) {
	eps := nc.captiveEndpoints(ctx)
	if len(eps) == 0 {
		nc.emit(Event{Method: MethodCaptive, Detail: "not checked: no node with CanPort80 and an IPv4 address"})
		return
	}
	client := &http.Client{
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		// No proxy from the environment: the portal sits on the direct path.
		Transport: &http.Transport{DisableKeepAlives: true},
		Timeout:   captiveTimeout,
	}
	defer client.CloseIdleConnections()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		verdicts []captiveVerdict
	)
	for _, ep := range eps {
		wg.Go(func() {
			v, detail, err := checkCaptiveEndpoint(ctx, client, ep)
			nc.emit(Event{Method: MethodCaptive, Region: ep.region, Target: ep.url, Detail: detail, Err: err})
			mu.Lock()
			verdicts = append(verdicts, v)
			mu.Unlock()
		})
	}
	wg.Wait()
	nc.mu.Lock()
	nc.rep.CaptivePortal = captiveResult(verdicts)
	nc.mu.Unlock()
}

// captiveResult folds the endpoints' verdicts: one intercepted answer is
// enough for true; false needs at least one clean answer; else unknown.
func captiveResult(verdicts []captiveVerdict) *bool {
	var res *bool
	for _, v := range verdicts {
		switch v {
		case captiveFound:
			return new(true)
		case captiveClean:
			res = new(false)
		}
	}
	return res
}

// checkCaptiveEndpoint makes one request and judges the answer: the relay
// answers 204 with "response <challenge>" in captiveResponseHeader.
func checkCaptiveEndpoint(ctx context.Context, client *http.Client, ep captiveEndpoint) (captiveVerdict, string, error) {
	ctx, cancel := context.WithTimeout(ctx, captiveTimeout)
	defer cancel()
	// The query defeats caches between us and the node, as the header does.
	u := ep.url + "?t=" + strconv.FormatInt(time.Now().Unix(), 10)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return captiveUnknown, "", err
	}
	challenge := "ts_" + ep.host
	req.Header.Set("Cache-Control", "no-cache, no-store, must-revalidate, no-transform, max-age=0")
	req.Header.Set(captiveChallengeHeader, challenge)
	resp, err := client.Do(req)
	if err != nil {
		return captiveUnknown, "", err // names the URL already
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode != http.StatusNoContent {
		return captiveFound, fmt.Sprintf("answered %s, want 204 No Content", resp.Status), nil
	}
	if got, want := resp.Header.Get(captiveResponseHeader), "response "+challenge; got != want {
		return captiveFound, fmt.Sprintf("answered 204 with %s %q, want %q", captiveResponseHeader, got, want), nil
	}
	return captiveClean, "the relay answered the challenge", nil
}
