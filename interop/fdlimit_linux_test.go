package interop

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"tailscale.com/derp/derphttp"
	"tailscale.com/net/netmon"
	"tailscale.com/types/key"
	"tailscale.com/types/logger"
)

// Bounds of TestFDExhaustion.
const (
	// fdHeadroom is how many descriptors beyond those it holds at the
	// start the relay may open; fdFillers clients try to connect, so the
	// rest wait in the listen backlog.
	fdHeadroom = 6
	fdFillers  = 16
	// fdExhaustedFor is how long the test keeps the relay out of
	// descriptors while it measures CPU and counts log lines.
	fdExhaustedFor = 3 * time.Second
	// fdMaxCPU bounds the relay's CPU time while exhausted: a busy accept
	// loop burns the whole window; backing off costs almost nothing.
	fdMaxCPU = 0.1 // of one core
	// fdMaxLogLines bounds the lines about failing accepts in the window.
	fdMaxLogLines = 2
	// fdRecovery bounds the time from descriptors freed to a new client
	// relaying: the longest accept pause (1 s) plus a connect.
	fdRecovery = 5 * time.Second
)

// TestFDExhaustion runs a relayctl node at a small descriptor limit and
// connects past it: clients already connected keep relaying, the accept
// loop backs off (CPU stays near zero), logs once and counts the errors,
// and once descriptors are free again the node takes new clients by
// itself.
func TestFDExhaustion(t *testing.T) {
	if !serverSelected(relayctlServer) {
		t.Skip("relayctl not selected by INTEROP_SERVERS")
	}
	s := startServer(t, relayctlServer)
	pid := s.proc.Pid
	a, b := connectPeer(t, s), connectPeer(t, s)
	exchange(t, a, b)

	limit := mustFDs(t, pid) + fdHeadroom
	if err := setFDLimit(pid, uint64(limit)); err != nil {
		t.Fatal(err)
	}

	// Fillers connect until the relay runs out; the rest hang in the
	// backlog until they are cancelled.
	fillCtx, cancelFill := context.WithCancel(t.Context())
	var fillers sync.WaitGroup
	var mu sync.Mutex
	var connected []*derphttp.Client
	for range fdFillers {
		fillers.Go(func() {
			c, err := derphttp.NewClient(key.NewNode(), s.url("/derp"), logger.Discard, netmon.NewStatic())
			if err != nil {
				return
			}
			if err := c.Connect(fillCtx); err != nil {
				c.Close()
				return
			}
			mu.Lock()
			connected = append(connected, c)
			mu.Unlock()
		})
	}
	releaseFillers := func() {
		cancelFill()
		fillers.Wait()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range connected {
			c.Close()
		}
		connected = nil
	}
	defer releaseFillers()

	if _, err := s.logs.waitForJSONLine(t.Context(), msgTimeout, "accepting connections failed", "process_fd_limit"); err != nil {
		t.Fatalf("the relay never ran out of descriptors (limit %d, %d open): %v", limit, mustFDs(t, pid), err)
	}
	linesBefore := acceptLogLines(s.logs.String())
	cpuBefore, err := cpuTicks(pid)
	if err != nil {
		t.Fatal(err)
	}
	// While exhausted: the established pair keeps relaying, and for the
	// rest of the window nothing new happens on the relay's side.
	start := time.Now()
	exchange(t, a, b)
	time.Sleep(fdExhaustedFor - time.Since(start)) // a measuring window, not a wait for a condition
	cpuAfter, err := cpuTicks(pid)
	if err != nil {
		t.Fatal(err)
	}
	exchange(t, a, b)
	cpu := float64(cpuAfter-cpuBefore) / clockTicksPerSecond / fdExhaustedFor.Seconds()
	lines := acceptLogLines(s.logs.String()) - linesBefore
	t.Logf("out of descriptors for %v: relay CPU %.1f%% of a core, %d more log lines about accepting", fdExhaustedFor, 100*cpu, lines)
	if cpu > fdMaxCPU {
		t.Errorf("relay used %.0f%% of a core while out of descriptors, want ≤ %.0f%% (busy accept loop?)", 100*cpu, 100*fdMaxCPU)
	}
	if lines > fdMaxLogLines {
		t.Errorf("%d log lines about failing accepts in %v, want ≤ %d", lines, fdExhaustedFor, fdMaxLogLines)
	}

	// A client that comes now waits in the backlog; freeing descriptors
	// lets it in without anyone touching the relay.
	late := make(chan *peer, 1)
	go func() {
		defer close(late)
		// Not connectPeer: it would fail the test from this goroutine.
		priv := key.NewNode()
		c, err := derphttp.NewClient(priv, s.url("/derp"), logger.Discard, netmon.NewStatic())
		if err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(t.Context(), fdExhaustedFor+fdRecovery+msgTimeout)
		defer cancel()
		if err := c.Connect(ctx); err != nil {
			c.Close()
			return
		}
		late <- &peer{c: c, priv: priv, pub: priv.Public(), in: startInbox(c)}
	}()
	freed := time.Now()
	releaseFillers()
	var p *peer
	select {
	case p = <-late:
	case <-time.After(fdRecovery + msgTimeout):
	}
	if p == nil {
		t.Fatalf("no new client got in within %v of freeing descriptors", fdRecovery+msgTimeout)
	}
	defer p.close()
	if _, err := p.in.next(msgTimeout); err != nil { // ServerInfo
		t.Fatal(err)
	}
	recovered := time.Since(freed)
	exchange(t, a, p)
	t.Logf("a new client relayed %v after descriptors were freed", recovered.Round(time.Millisecond))
	if recovered > fdRecovery {
		t.Errorf("recovery took %v, want ≤ %v", recovered, fdRecovery)
	}
	if _, err := s.logs.waitForJSONLine(t.Context(), msgTimeout, "accepting connections again"); err != nil {
		t.Error(err)
	}
	v, err := varzValue(t.Context(), "http://"+s.httpAddr, `relayctl_accept_errors{reason="process_fd_limit"}`)
	if err != nil || v < 1 {
		t.Errorf("relayctl_accept_errors{reason=process_fd_limit} = %v (%v), want ≥ 1", v, err)
	}
}

// acceptLogLines counts the relay's log lines about failing accepts.
func acceptLogLines(logs string) int {
	n := 0
	for line := range strings.Lines(logs) {
		if strings.Contains(line, "accept") && (strings.Contains(line, "fail") || strings.Contains(line, "error")) {
			n++
		}
	}
	return n
}
