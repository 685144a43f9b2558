package interop

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go4.org/mem"
	"tailscale.com/derp"
	"tailscale.com/derp/derphttp"
	"tailscale.com/net/netmon"
	"tailscale.com/net/stun"
	"tailscale.com/types/key"
	"tailscale.com/types/logger"

	relayclient "github.com/relayctl/relayctl/relay/client"
	rkey "github.com/relayctl/relayctl/relay/key"
)

// The hostile-input suite: one table of bad inputs at the TCP, HTTP,
// WebSocket, DERP and STUN layers. Each case runs against a fresh server
// that already has an established pair of clients. The case commits its
// offence and checks how the offender was dealt with (closed, refused or
// ignored); then the established pair must still deliver both ways, a
// fresh pair must connect and deliver, and the server must be running.
// badinput_test.go holds the older cases (garbage and oversized frames,
// silent connections, churn); none is repeated here.

// hostileCase is one bad input. servers limits the case to the servers
// where it means something (a relayctl-only flag); nil means all.
type hostileCase struct {
	name    string // layer/what
	servers []serverKind
	// flags returns extra command-line flags for the server; it may
	// prepare files (a mesh key) and record them in h.
	flags  func(t *testing.T, h *hostileEnv) []string
	commit func(t *testing.T, h *hostileEnv)
	// freshRetry lets the fresh pair retry its dial for a while: after an
	// accept-rate flood the token bucket needs a moment to refill.
	freshRetry bool
}

// hostileEnv is what a case works with.
type hostileEnv struct {
	kind        serverKind
	s           *server
	a, b        *peer // the established pair
	meshKeyFile string
}

func relayctlOnly() []serverKind { return []serverKind{relayctlServer} }

func withMeshKey(t *testing.T, h *hostileEnv) []string {
	h.meshKeyFile = writeMeshKey(t)
	if h.kind == derperServer {
		return []string{"-mesh-psk-file", h.meshKeyFile}
	}
	return []string{"--mesh-psk-file", h.meshKeyFile}
}

func flags(fs ...string) func(*testing.T, *hostileEnv) []string {
	return func(*testing.T, *hostileEnv) []string { return fs }
}

var hostileCases = []hostileCase{
	// --- TCP ---
	{name: "tcp/idle_socket_flood", commit: commitIdleSocketFlood},
	{name: "tcp/reset_after_connect", commit: commitResetAfterConnect},
	{name: "tcp/over_max_conns_per_ip", servers: relayctlOnly(),
		flags: flags("--max-conns-per-ip", "8"), commit: commitOverMaxConnsPerIP},
	{name: "tcp/over_max_conns", servers: relayctlOnly(),
		flags: flags("--max-conns", "12"), commit: commitOverMaxConns},
	// derper exits when its accept limit is hit (spec §1.1); see
	// TestHostileDerperAcceptLimitExits. relayctl keeps accepting.
	{name: "tcp/accept_rate_flood", servers: relayctlOnly(), freshRetry: true,
		flags: flags("--accept-connection-limit", "20", "--accept-connection-burst", "20"), commit: commitAcceptRateFlood},

	// --- HTTP ---
	{name: "http/header_over_1mib", commit: commitHugeHeader},
	{name: "http/ten_thousand_headers", commit: commitManyHeaders},
	{name: "http/garbage_request_line", commit: commitGarbageRequestLine},
	{name: "http/http2_preface", commit: commitHTTP2Preface},
	{name: "http/upgrade_with_body", commit: commitUpgradeWithBody},
	{name: "http/pipelined_before_upgrade", commit: commitPipelinedUpgrade},
	{name: "http/xff_from_untrusted_peer", flags: withMeshKey, commit: commitXFFUntrusted},
	{name: "http/xff_from_trusted_proxy", servers: relayctlOnly(), commit: commitXFFTrusted,
		flags: func(t *testing.T, h *hostileEnv) []string {
			return append(withMeshKey(t, h), "--trusted-proxy", "127.0.0.1/32")
		}},
	{name: "http/debug_with_forwarded", commit: commitDebugWithHeader("Forwarded", "for=192.0.2.1")},
	{name: "http/debug_dns_rebinding", commit: commitDebugDNSRebinding},
	{name: "http/debug_with_x_real_ip", commit: commitDebugWithHeader("X-Real-IP", "192.0.2.1")},
	{name: "http/debug_via_trusted_proxy", servers: relayctlOnly(),
		flags: flags("--trusted-proxy", "127.0.0.1/32"), commit: commitDebugViaTrustedProxy},

	// --- WebSocket ---
	{name: "websocket/message_2mib", commit: commitWSHugeMessage},
	{name: "websocket/text_message", commit: commitWSTextMessage},
	{name: "websocket/ping_flood", commit: commitWSPingFlood},
	{name: "websocket/missing_subprotocol", commit: commitWSNoSubprotocol},

	// --- DERP ---
	{name: "derp/client_info_256k_plus_1", commit: commitClientInfoJustTooBig},
	{name: "derp/server_frames_from_client", commit: commitServerFramesFromClient},
	{name: "derp/ping_burst_10000", commit: commitPingBurst},
	{name: "derp/send_to_self", commit: commitSendToSelf},
	{name: "derp/receiver_never_reads", commit: commitNeverReads},

	// --- STUN ---
	{name: "stun/datagram_64k", commit: commitSTUNHuge},
	{name: "stun/thousand_attributes", commit: commitSTUNManyAttrs},
	{name: "stun/no_amplification", commit: commitSTUNAmplification},
	{name: "stun/reflected_response", commit: commitSTUNReflectedResponse},
	{name: "stun/truncated_header", commit: commitSTUNTruncated},
}

func TestHostileInput(t *testing.T) {
	for _, k := range selectedKinds() {
		t.Run(string(k), func(t *testing.T) {
			t.Parallel()
			for _, tc := range hostileCases {
				if tc.servers != nil && !slices.Contains(tc.servers, k) {
					continue
				}
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					runHostileCase(t, k, tc)
				})
			}
		})
	}
}

func runHostileCase(t *testing.T, k serverKind, tc hostileCase) {
	h := &hostileEnv{kind: k}
	var extra []string
	if tc.flags != nil {
		extra = tc.flags(t, h)
	}
	h.s = startServer(t, k, extra...)
	h.a, h.b = connectPeer(t, h.s), connectPeer(t, h.s)
	exchange(t, h.a, h.b)

	tc.commit(t, h)

	exchange(t, h.a, h.b)
	if tc.freshRetry {
		exchange(t, connectPeerEventually(t, h.s), connectPeerEventually(t, h.s))
	} else {
		exchange(t, connectPeer(t, h.s), connectPeer(t, h.s))
	}
	if !h.s.alive() {
		t.Fatalf("%s exited: %v", k, h.s.exitStatus())
	}
}

// connectPeerEventually is connectPeer for a server that may turn a
// connection away for a while (an emptied accept-rate bucket); it dials
// again, as a real client would.
func connectPeerEventually(t *testing.T, s *server) *peer {
	t.Helper()
	priv := key.NewNode()
	var c *derphttp.Client
	waitUntil(t, msgTimeout, "connecting a fresh client", func() error {
		var err error
		c, err = derphttp.NewClient(priv, s.url("/derp"), logger.Discard, netmon.NewStatic())
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(t.Context(), msgTimeout)
		defer cancel()
		if err = c.Connect(ctx); err == nil {
			// Connect returns after sending ClientInfo; a connection
			// that was turned away fails on the first Recv instead.
			var m derp.ReceivedMessage
			if m, err = c.Recv(); err == nil {
				if _, ok := m.(derp.ServerInfoMessage); ok {
					return nil
				}
				err = fmt.Errorf("first message %T", m)
			}
		}
		c.Close()
		return err
	})
	p := &peer{c: c, priv: priv, pub: priv.Public(), in: startInbox(c)}
	t.Cleanup(func() {
		if err := p.close(); err != nil {
			t.Error(err)
		}
	})
	return p
}

// --- TCP ---

// commitIdleSocketFlood holds 200 connected sockets that never send a
// byte. While they stand, the pair and a fresh pair must work.
func commitIdleSocketFlood(t *testing.T, h *hostileEnv) {
	var idle []net.Conn
	for range 200 {
		nc, err := net.DialTimeout("tcp", h.s.httpAddr, msgTimeout)
		if err != nil {
			t.Fatalf("idle socket %d: %v", len(idle), err)
		}
		idle = append(idle, nc)
	}
	defer func() {
		for _, nc := range idle {
			nc.Close()
		}
	}()
	exchange(t, h.a, h.b)
	exchange(t, connectPeer(t, h.s), connectPeer(t, h.s))
}

// commitResetAfterConnect resets 100 connections (SO_LINGER 0): right
// after connecting, in the middle of a request, and right after the
// upgrade's 101.
func commitResetAfterConnect(t *testing.T, h *hostileEnv) {
	for i := range 100 {
		c := dialRaw(t, h.s)
		switch i % 3 {
		case 1:
			c.writeRaw(t, []byte("GET /derp HTTP/1.1\r\nHost: x\r\nUpgr"))
		case 2:
			c.upgrade(t)
		}
		c.nc.(*net.TCPConn).SetLinger(0)
		c.nc.Close()
	}
}

// holdConns opens up to n connections from local address from, each
// proven accepted by a /derp/probe answer on it. It returns the held ones
// and how many were turned away (closed with no answer).
func holdConns(t *testing.T, s *server, from string, n int) (held []net.Conn, refused int) {
	t.Helper()
	d := net.Dialer{Timeout: msgTimeout, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	t.Cleanup(func() {
		for _, nc := range held {
			nc.Close()
		}
	})
	for range n {
		nc, err := d.Dial("tcp", s.httpAddr)
		if err != nil {
			t.Fatalf("dial from %s: %v", from, err)
		}
		if probeOn(nc) == nil {
			held = append(held, nc)
			continue
		}
		nc.Close()
		refused++
	}
	return held, refused
}

// probeOn sends GET /derp/probe on nc (keep-alive) and requires a 200.
func probeOn(nc net.Conn) error {
	nc.SetDeadline(time.Now().Add(msgTimeout))
	defer nc.SetDeadline(time.Time{})
	if _, err := io.WriteString(nc, "GET /derp/probe HTTP/1.1\r\nHost: relay\r\n\r\n"); err != nil {
		return err
	}
	resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("probe: %s", resp.Status)
	}
	return nil
}

// waitMetricAtLeast polls /debug/varz until series reaches min.
func waitMetricAtLeast(t *testing.T, s *server, series string, min float64) float64 {
	t.Helper()
	var v float64
	waitUntil(t, msgTimeout, fmt.Sprintf("%s ≥ %v", series, min), func() error {
		var err error
		v, err = varzValue(t.Context(), "http://"+s.httpAddr, series)
		if err == nil && v < min {
			err = fmt.Errorf("%s = %v", series, v)
		}
		return err
	})
	return v
}

// commitOverMaxConnsPerIP: one source IP (127.0.0.2) gets 8 connections
// and no more; everyone else (127.0.0.1) is untouched meanwhile.
func commitOverMaxConnsPerIP(t *testing.T, h *hostileEnv) {
	held, refused := holdConns(t, h.s, "127.0.0.2", 11)
	if len(held) != 8 || refused != 3 {
		t.Fatalf("from 127.0.0.2: %d connections held, %d refused; want 8 and 3", len(held), refused)
	}
	exchange(t, h.a, h.b)
	exchange(t, connectPeer(t, h.s), connectPeer(t, h.s))
	waitMetricAtLeast(t, h.s, `relayctl_conns_rejected{reason="max_conns_per_ip"}`, 3)
	for _, nc := range held {
		nc.Close()
	}
}

// commitOverMaxConns fills the relay to --max-conns from 127.0.0.3; the
// next connection is closed at once while established clients keep
// working; once the filler leaves, new clients get in again.
func commitOverMaxConns(t *testing.T, h *hostileEnv) {
	held, refused := holdConns(t, h.s, "127.0.0.3", 14)
	if refused == 0 || len(held) > 12-2 {
		t.Fatalf("%d connections held besides the pair, %d refused; want some refused and at most 10 held", len(held), refused)
	}
	exchange(t, h.a, h.b)
	for _, nc := range held {
		nc.Close()
	}
	// The relay frees a slot when it sees the close; wait until two fit.
	waitUntil(t, msgTimeout, "slots freed", func() error {
		held, refused := holdConns(t, h.s, "127.0.0.3", 2)
		for _, nc := range held {
			nc.Close()
		}
		if refused > 0 {
			return fmt.Errorf("%d of 2 refused", refused)
		}
		return nil
	})
	waitMetricAtLeast(t, h.s, `relayctl_conns_rejected{reason="max_conns"}`, float64(refused))
}

// commitAcceptRateFlood opens 200 connections as fast as it can against
// --accept-connection-limit 20/s: most are closed on accept, and the
// relay goes on accepting (derper would exit).
func commitAcceptRateFlood(t *testing.T, h *hostileEnv) {
	var served, refused int
	for range 200 {
		nc, err := net.DialTimeout("tcp", h.s.httpAddr, msgTimeout)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		if probeOn(nc) == nil {
			served++
		} else {
			refused++
		}
		nc.Close()
	}
	t.Logf("accept-rate flood: %d served, %d refused", served, refused)
	if refused < 100 {
		t.Fatalf("only %d of 200 connections refused at 20/s", refused)
	}
	exchange(t, h.a, h.b)
	waitMetricAtLeast(t, h.s, "tls_listener_rejected_connections", float64(refused))
}

// TestHostileDerperAcceptLimitExits records the derper behaviour that
// relayctl's accept limit improves on (spec §1.1): derper's limiter ends
// its accept loop, and the process exits, on the first connection over
// the limit. Its limiter only wraps the TLS listener, hence the TLS setup.
func TestHostileDerperAcceptLimitExits(t *testing.T) {
	if !serverSelected(derperServer) {
		t.Skip("derper not selected by INTEROP_SERVERS")
	}
	t.Parallel()
	n := newRegionNode(t, derperServer, "900x", "127.0.0.1")
	args := append(n.args(), "-accept-connection-limit", "1", "-accept-connection-burst", "1")
	p := startProcess(t, "derper", binaryFor(t, derperServer), nil, args...)
	waitUntil(t, readyTimeout, "derper exiting after connections over its accept limit", func() error {
		select {
		case <-p.exited:
			return nil
		default:
		}
		if nc, err := net.DialTimeout("tcp", n.addr(), time.Second); err == nil {
			nc.Close()
		}
		return errors.New("still running")
	})
	if !strings.Contains(p.logs.String(), "rate limited") {
		t.Errorf("derper exited without the rate-limit message:\n%s", p.logs)
	}
}

// --- HTTP ---

// expectRefusedHTTP reads the answer to a request the server must not
// serve: an error status, or the connection closed. It returns the
// status (0 when closed without one).
func expectRefusedHTTP(t *testing.T, c *rawConn) int {
	t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(msgTimeout))
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || isClosedErr(err) {
			return 0
		}
		t.Fatalf("waiting for the refusal: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode < 400 {
		t.Fatalf("status %s, want a 4xx or 5xx refusal", resp.Status)
	}
	return resp.StatusCode
}

// writeAsync writes b in the background: a server that refuses early may
// close before it has all been sent, and that is not the test's concern.
func writeAsync(t *testing.T, nc net.Conn, b []byte) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		nc.SetWriteDeadline(time.Now().Add(msgTimeout))
		nc.Write(b)
	}()
	t.Cleanup(func() { nc.Close(); <-done })
}

// commitHugeHeader sends one header value of 1 MiB + 16 KiB, past Go's
// 1 MiB request-header limit that both servers inherit.
func commitHugeHeader(t *testing.T, h *hostileEnv) {
	c := dialRaw(t, h.s)
	req := "GET /derp HTTP/1.1\r\nHost: relay\r\nUpgrade: DERP\r\nConnection: Upgrade\r\nX-Big: " +
		strings.Repeat("a", 1<<20+16<<10) + "\r\n\r\n"
	writeAsync(t, c.nc, []byte(req))
	if st := expectRefusedHTTP(t, c); st != 0 && st != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("status %d, want 431 or a close", st)
	}
}

// commitManyHeaders sends 10 000 short headers (under the size limit):
// the request is answered normally, or refused; nothing else.
func commitManyHeaders(t *testing.T, h *hostileEnv) {
	c := dialRaw(t, h.s)
	var req strings.Builder
	req.WriteString("GET /derp/probe HTTP/1.1\r\nHost: relay\r\n")
	for i := range 10000 {
		fmt.Fprintf(&req, "X-H%d: %d\r\n", i, i)
	}
	req.WriteString("\r\n")
	writeAsync(t, c.nc, []byte(req.String()))
	c.nc.SetReadDeadline(time.Now().Add(msgTimeout))
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		t.Fatalf("no answer to 10 000 headers: %v", err)
	}
	resp.Body.Close()
	t.Logf("10 000 headers: %s", resp.Status)
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("status %s, want 200 or 431", resp.Status)
	}
}

func commitGarbageRequestLine(t *testing.T, h *hostileEnv) {
	c := dialRaw(t, h.s)
	c.writeRaw(t, []byte("\x16\x03\x01\x00\xff GARBAGE \x00\x01\x02\r\n\r\n"))
	if st := expectRefusedHTTP(t, c); st != 0 && st != http.StatusBadRequest {
		t.Errorf("status %d, want 400 or a close", st)
	}
	c.expectClosed(t, msgTimeout)
}

// commitHTTP2Preface sends the HTTP/2 connection preface and a SETTINGS
// frame to the HTTP/1.1 listener (prior knowledge h2c, which neither
// server speaks).
func commitHTTP2Preface(t *testing.T, h *hostileEnv) {
	c := dialRaw(t, h.s)
	settings := []byte{0, 0, 0, 0x4, 0, 0, 0, 0, 0} // empty SETTINGS frame
	c.writeRaw(t, append([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), settings...))
	st := expectRefusedHTTP(t, c)
	t.Logf("HTTP/2 preface: status %d", st)
	c.expectClosed(t, msgTimeout)
}

// commitUpgradeWithBody sends a DERP upgrade that carries a body: its
// bytes are not a ClientInfo frame, so the connection must close without
// a handshake.
func commitUpgradeWithBody(t *testing.T, h *hostileEnv) {
	c := dialRaw(t, h.s)
	body := bytes.Repeat([]byte("body!"), 20)
	c.writeRaw(t, fmt.Appendf(nil, "POST /derp HTTP/1.1\r\nHost: relay\r\nConnection: Upgrade\r\nUpgrade: DERP\r\nContent-Length: %d\r\n\r\n%s", len(body), body))
	c.nc.SetReadDeadline(time.Now().Add(msgTimeout))
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		if isClosedErr(err) || errors.Is(err, io.ErrUnexpectedEOF) {
			return
		}
		t.Fatal(err)
	}
	t.Logf("upgrade with a body: %s", resp.Status)
	// Whatever came back (101 and ServerKey, or an error), no ServerInfo
	// may follow and the connection must end.
	for {
		typ, _, err := c.readFrame(handshakeCloseWithin)
		if err != nil {
			if isClosedErr(err) || errors.Is(err, io.ErrUnexpectedEOF) {
				return
			}
			t.Fatalf("waiting for the close: %v", err)
		}
		if typ == derp.FrameServerInfo {
			t.Fatal("the body was taken as a ClientInfo")
		}
	}
}

// commitPipelinedUpgrade sends a probe request and the DERP upgrade in
// one write. HTTP/1.1 pipelining is legal: the probe is answered, then
// the upgrade, and the DERP handshake completes on the same connection.
func commitPipelinedUpgrade(t *testing.T, h *hostileEnv) {
	c := dialRaw(t, h.s)
	c.writeRaw(t, []byte("GET /derp/probe HTTP/1.1\r\nHost: relay\r\n\r\n"+
		"GET /derp HTTP/1.1\r\nHost: relay\r\nConnection: Upgrade\r\nUpgrade: DERP\r\n\r\n"))
	c.nc.SetReadDeadline(time.Now().Add(msgTimeout))
	for _, want := range []int{http.StatusOK, http.StatusSwitchingProtocols} {
		resp, err := http.ReadResponse(c.br, nil)
		if err != nil {
			t.Fatalf("pipelined response (want %d): %v", want, err)
		}
		if want == http.StatusOK {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		if resp.StatusCode != want {
			t.Fatalf("pipelined response %s, want %d", resp.Status, want)
		}
	}
	typ, payload, err := c.readFrame(msgTimeout)
	if err != nil || typ != derp.FrameServerKey {
		t.Fatalf("after the pipelined upgrade: frame %#x, %v; want ServerKey", typ, err)
	}
	c.serverKey = key.NodePublicFromRaw32(mem.B(payload[len(derp.Magic) : len(derp.Magic)+derp.KeyLen]))
	priv := key.NewNode()
	c.writeFrame(t, derp.FrameClientInfo, clientInfoPayload(priv, c.serverKey))
	c.expectServerInfo(t, priv)
	expectAlive(t, c)
}

// meshWatcher is a mesh-key client watching the server's connections.
type meshWatcher struct {
	present chan relayclient.PeerPresent
}

func watchConns(t *testing.T, h *hostileEnv) *meshWatcher {
	t.Helper()
	b, err := os.ReadFile(h.meshKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	mk, err := rkey.ParseMeshKey(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), msgTimeout)
	defer cancel()
	c, err := relayclient.Dial(ctx, h.s.url("/derp"), rkey.NewNode(), relayclient.Options{MeshKey: mk, RecvTimeout: -1})
	if err != nil {
		t.Fatalf("mesh watcher: %v", err)
	}
	if err := c.WatchConns(); err != nil {
		t.Fatal(err)
	}
	w := &meshWatcher{present: make(chan relayclient.PeerPresent, 64)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			m, err := c.Recv()
			if err != nil {
				return
			}
			if pp, ok := m.(relayclient.PeerPresent); ok {
				select {
				case w.present <- pp:
				default: // nobody is looking for it
				}
			}
		}
	}()
	t.Cleanup(func() { c.Close(); <-done })
	return w
}

// addrOf waits for the PeerPresent of k and returns the address in it.
func (w *meshWatcher) addrOf(t *testing.T, k rkey.NodePublic) netip.AddrPort {
	t.Helper()
	deadline := time.After(msgTimeout)
	for {
		select {
		case pp := <-w.present:
			if pp.Key == k {
				return pp.Addr
			}
		case <-deadline:
			t.Fatalf("no PeerPresent for %s within %v", k.ShortString(), msgTimeout)
		}
	}
}

// dialWithForwardedFor connects one of our clients that claims, in
// X-Forwarded-For and X-Real-IP, to be somewhere else.
func dialWithForwardedFor(t *testing.T, h *hostileEnv, xff string) *relayclient.Client {
	t.Helper()
	hdr := http.Header{}
	hdr.Set("X-Forwarded-For", xff)
	hdr.Set("X-Real-IP", "198.51.100.9")
	ctx, cancel := context.WithTimeout(t.Context(), msgTimeout)
	defer cancel()
	c, err := relayclient.Dial(ctx, h.s.url("/derp"), rkey.NewNode(), relayclient.Options{Header: hdr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// commitXFFUntrusted: a direct client's X-Forwarded-For and X-Real-IP are
// ignored; the mesh sees (and per-IP limits and logs use) the real
// address.
func commitXFFUntrusted(t *testing.T, h *hostileEnv) {
	w := watchConns(t, h)
	c := dialWithForwardedFor(t, h, "192.0.2.7")
	real := c.LocalAddr().(*net.TCPAddr).AddrPort()
	if got := w.addrOf(t, c.PublicKey()); got != real {
		t.Errorf("PeerPresent address %v, want the real %v (X-Forwarded-For must be ignored)", got, real)
	}
}

// commitXFFTrusted: behind a trusted proxy (here the loopback address
// itself) the client is the right-most X-Forwarded-For hop.
func commitXFFTrusted(t *testing.T, h *hostileEnv) {
	w := watchConns(t, h)
	c := dialWithForwardedFor(t, h, "203.0.113.5, 192.0.2.7")
	want := netip.MustParseAddrPort("192.0.2.7:0")
	if got := w.addrOf(t, c.PublicKey()); got != want {
		t.Errorf("PeerPresent address %v, want %v from X-Forwarded-For", got, want)
	}
}

// debugStatus requests /debug/ from loopback with one extra header.
func debugStatus(t *testing.T, s *server, name, value string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, s.url("/debug/"), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(name, value)
	resp, err := statsClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// commitDebugWithHeader: /debug/ is for direct loopback connections only.
// A request carrying a proxy header may have come from anywhere, so
// relayctl refuses it. derper only looks at X-Forwarded-For (tsweb's
// AllowDebugAccess), so Forwarded and X-Real-IP still get in there.
func commitDebugWithHeader(name, value string) func(*testing.T, *hostileEnv) {
	return func(t *testing.T, h *hostileEnv) {
		want := map[serverKind]int{relayctlServer: http.StatusForbidden, derperServer: http.StatusOK}[h.kind]
		if got := debugStatus(t, h.s, name, value); got != want {
			t.Errorf("GET /debug/ with %s: status %d, want %d", name, got, want)
		}
	}
}

// commitDebugViaTrustedProxy: trusting a proxy for client addresses must
// not let it vouch for a loopback client: /debug/ stays closed.
func commitDebugViaTrustedProxy(t *testing.T, h *hostileEnv) {
	if got := debugStatus(t, h.s, "X-Forwarded-For", "127.0.0.1"); got != http.StatusForbidden {
		t.Errorf("GET /debug/ via a trusted proxy claiming 127.0.0.1: status %d, want 403", got)
	}
}

// --- WebSocket ---

// commitWSHugeMessage sends one 2 MiB binary message: a valid ClientInfo
// followed by 60 000-byte packets to a key nobody holds (which a server
// drops silently). Both servers cap a message (derper at the WebSocket
// library's 32 KiB, relayctl at 1 MiB), so the connection must close
// before the message ends; a server may complete the handshake first.
func commitWSHugeMessage(t *testing.T, h *hostileEnv) {
	w := openWS(t, h.s)
	msg := derpFrameBytes(derp.FrameClientInfo, clientInfoPayload(key.NewNode(), w.serverKey))
	nobody := key.NewNode().Public()
	for len(msg) < 2<<20 {
		msg = append(msg, derpFrameBytes(derp.FrameSendPacket, append(nobody.AppendTo(nil), make([]byte, 60000)...))...)
	}
	writeAsync(t, w.nc, wsFrame(wsBinary, msg))
	for {
		_, _, err := w.readDERP(msgTimeout)
		if errors.Is(err, errWSClosed) || (err != nil && isClosedErr(err)) {
			return
		}
		if err != nil {
			t.Fatalf("waiting for the server to close the WebSocket: %v", err)
		}
	}
}

// commitWSTextMessage sends the ClientInfo in a text message; DERP
// travels only in binary messages.
func commitWSTextMessage(t *testing.T, h *hostileEnv) {
	w := openWS(t, h.s)
	msg := derpFrameBytes(derp.FrameClientInfo, clientInfoPayload(key.NewNode(), w.serverKey))
	if err := w.send(wsFrame(wsText, msg)); err != nil {
		t.Fatal(err)
	}
	w.expectClosedWS(t, msgTimeout)
}

// commitWSPingFlood sends 10 000 WebSocket Pings before the ClientInfo.
// The server may answer them (never more Pongs than Pings) and must then
// complete the handshake and relay DERP Pings as usual.
func commitWSPingFlood(t *testing.T, h *hostileEnv) {
	w := openWS(t, h.s)
	const pings = 10000
	var flood []byte
	for i := range pings {
		flood = append(flood, wsFrame(wsPing, binary.BigEndian.AppendUint64(nil, uint64(i)))...)
	}
	if err := w.send(flood); err != nil {
		t.Fatal(err)
	}
	priv := key.NewNode()
	if err := w.send(wsFrame(wsBinary, derpFrameBytes(derp.FrameClientInfo, clientInfoPayload(priv, w.serverKey)))); err != nil {
		t.Fatal(err)
	}
	wantDERPFrame(t, w, derp.FrameServerInfo)
	if err := w.send(wsFrame(wsBinary, derpFrameBytes(derp.FramePing, []byte("alive?!!")))); err != nil {
		t.Fatal(err)
	}
	wantDERPFrame(t, w, derp.FramePong)
	t.Logf("WebSocket ping flood: %d Pongs for %d Pings", w.pongs, pings)
	if w.pongs > pings {
		t.Errorf("%d Pongs for %d Pings", w.pongs, pings)
	}
}

func wantDERPFrame(t *testing.T, w *wsRaw, want derp.FrameType) {
	t.Helper()
	for {
		typ, _, err := w.readDERP(msgTimeout)
		if err != nil {
			t.Fatalf("waiting for DERP frame %#x over WebSocket: %v", want, err)
		}
		if typ == want {
			return
		}
		if typ != derp.FrameKeepAlive {
			t.Fatalf("DERP frame %#x over WebSocket, want %#x", typ, want)
		}
	}
}

// commitWSNoSubprotocol asks for a WebSocket without the derp
// subprotocol. That is not a WebSocket DERP client: both servers treat
// "Upgrade: websocket" without it as the old native clients that sent
// that header but spoke plain DERP, answering 101 with "Upgrade: DERP" and
// a raw ServerKey frame. The WebSocket frame the client sends next is no
// ClientInfo, so the connection closes without a handshake.
func commitWSNoSubprotocol(t *testing.T, h *hostileEnv) {
	w, resp := dialWS(t, h.s, "")
	resp.Body.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols || !strings.EqualFold(resp.Header.Get("Upgrade"), "DERP") {
		t.Fatalf("WebSocket upgrade without subprotocol: %s, Upgrade %q; want 101 and DERP", resp.Status, resp.Header.Get("Upgrade"))
	}
	c := &rawConn{nc: w.nc, br: w.br}
	typ, payload, err := c.readFrame(msgTimeout)
	if err != nil || typ != derp.FrameServerKey {
		t.Fatalf("after the 101: frame %#x, %v; want a raw ServerKey", typ, err)
	}
	serverKey := key.NodePublicFromRaw32(mem.B(payload[len(derp.Magic) : len(derp.Magic)+derp.KeyLen]))
	if err := w.send(wsFrame(wsBinary, derpFrameBytes(derp.FrameClientInfo, clientInfoPayload(key.NewNode(), serverKey)))); err != nil {
		t.Fatal(err)
	}
	c.expectClosed(t, msgTimeout)
}

// derpFrameBytes is one DERP frame.
func derpFrameBytes(typ derp.FrameType, payload []byte) []byte {
	return append(frameHeader(typ, uint32(len(payload))), payload...)
}

// --- DERP ---

// commitClientInfoJustTooBig sends a ClientInfo of 256 KiB + 1 bytes, one
// more than the largest a server accepts, and sends all of it.
func commitClientInfoJustTooBig(t *testing.T, h *hostileEnv) {
	c := dialRaw(t, h.s)
	c.upgrade(t)
	const n = 256<<10 + 1
	writeAsync(t, c.nc, append(frameHeader(derp.FrameClientInfo, n), make([]byte, n)...))
	c.expectClosed(t, msgTimeout)
}

// commitServerFramesFromClient sends, after a good handshake, frames only
// a server sends. Both servers skip frame types they do not take from
// clients, so the connection keeps working.
func commitServerFramesFromClient(t *testing.T, h *hostileEnv) {
	c := dialRaw(t, h.s)
	priv := key.NewNode()
	c.handshake(t, priv)
	info := clientInfoPayload(priv, c.serverKey) // any bytes of the right shape
	c.writeFrame(t, derp.FrameServerKey, append([]byte(derp.Magic), c.serverKey.AppendTo(nil)...))
	c.writeFrame(t, derp.FrameServerInfo, info[derp.KeyLen:])
	c.writeFrame(t, derp.FramePeerGone, append(priv.Public().AppendTo(nil), 0))
	c.writeFrame(t, derp.FrameHealth, []byte("all is lost"))
	c.writeFrame(t, derp.FrameRestarting, make([]byte, 8))
	c.writeFrame(t, derp.FrameKeepAlive, nil)
	expectAlive(t, c)
}

// commitPingBurst writes 10 000 Pings in one burst without reading, then
// reads. Pongs must not outnumber Pings, the relay's memory must not
// balloon, and the connection must still answer.
func commitPingBurst(t *testing.T, h *hostileEnv) {
	c := dialRaw(t, h.s)
	c.handshake(t, key.NewNode())
	before, err := rssBytes(h.s.proc.Pid)
	if err != nil {
		t.Fatal(err)
	}
	const pings = 10000
	var burst []byte
	for i := range pings {
		burst = append(burst, derpFrameBytes(derp.FramePing, binary.BigEndian.AppendUint64(nil, uint64(i)))...)
	}
	c.writeRaw(t, burst)
	after, err := rssBytes(h.s.proc.Pid)
	if err != nil {
		t.Fatal(err)
	}
	pongs := 0
	for pongs < pings {
		typ, _, err := c.readFrame(time.Second)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			break // the rest were dropped
		}
		if err != nil {
			t.Fatalf("reading Pongs: %v", err)
		}
		if typ == derp.FramePong {
			pongs++
		}
	}
	t.Logf("ping burst: %d Pongs for %d Pings; RSS %s → %s", pongs, pings, mib(before), mib(after))
	if after-before > 32<<20 {
		t.Errorf("RSS grew by %s during the burst (bound 32 MiB)", mib(after-before))
	}
	expectAlive(t, c)
}

// commitSendToSelf: a packet to one's own key comes back to the sender
// (the key is connected) and disturbs nothing.
func commitSendToSelf(t *testing.T, h *hostileEnv) {
	h.a.send(t, h.a.pub, []byte("to myself"))
	h.a.expectPacket(t, h.a.pub, []byte("to myself"))
}

// commitNeverReads: a client never reads while another sends it 20 000
// packets of 1 KiB (20 MB, more than the socket buffers of both ends hold)
// as fast as it can. Its queue drops the oldest packets, its writer times
// out and it is closed; the sender and everyone else are unaffected.
// (A tiny SO_RCVBUF would make this stall in the kernel instead: with a
// receive window below one loopback MSS, the relay's close waits behind
// zero-window probes.)
func commitNeverReads(t *testing.T, h *hostileEnv) {
	c := dialRaw(t, h.s)
	victim := key.NewNode()
	c.handshake(t, victim)

	sender := connectPeer(t, h.s)
	pkt := bytes.Repeat([]byte{0xab}, 1024)
	var wg sync.WaitGroup
	wg.Go(func() {
		for range 20000 {
			if err := sender.c.Send(victim.Public(), pkt); err != nil {
				t.Errorf("sender: %v", err)
				return
			}
		}
	})
	exchange(t, h.a, h.b) // during the flood
	wg.Wait()
	exchange(t, sender, h.a)
	waitUntil(t, handshakeCloseWithin, "the relay timing out its write to the non-reader", func() error {
		v, err := varzValue(t.Context(), "http://"+h.s.httpAddr, "derp_sclient_write_timeouts")
		if err == nil && v < 1 {
			err = fmt.Errorf("derp_sclient_write_timeouts %v", v)
		}
		return err
	})
	c.expectClosed(t, msgTimeout)
	if h.kind == relayctlServer { // derper's drop metrics are named differently
		waitMetricAtLeast(t, h.s, `derp_packets_dropped{reason="queue_head",kind="other"}`, 1)
	}
}

// --- STUN ---

// stunExchange sends req and returns the reply, or nil if none came
// within wait.
func stunExchange(t *testing.T, uc *net.UDPConn, req []byte, wait time.Duration) []byte {
	t.Helper()
	if _, err := uc.Write(req); err != nil {
		t.Fatalf("sending %d-byte datagram: %v", len(req), err)
	}
	b := make([]byte, 64<<10)
	uc.SetReadDeadline(time.Now().Add(wait))
	n, err := uc.Read(b)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return b[:n]
}

// expectSTUNWorks requires a Tailscale binding request on uc to be
// answered with the right transaction ID (retrying, as UDP may drop).
func expectSTUNWorks(t *testing.T, uc *net.UDPConn) {
	t.Helper()
	for range stunTries {
		tx := stun.NewTxID()
		resp := stunExchange(t, uc, stun.Request(tx), stunReplyTimeout)
		for resp != nil {
			if got, _, err := stun.ParseResponse(resp); err == nil && got == tx {
				return
			}
			resp, _ = readSTUN(uc, stunReplyTimeout) // a late reply to something earlier; read on
		}
	}
	t.Fatalf("STUN no longer answers after %d tries", stunTries)
}

// commitSTUNHuge sends a 65 507-byte datagram (the IPv4 maximum) that
// starts like a binding request: no reply, and STUN keeps working.
func commitSTUNHuge(t *testing.T, h *hostileEnv) {
	uc, _ := dialSTUN(t, h.s)
	big := make([]byte, 65507)
	binary.BigEndian.PutUint16(big[0:], 0x0001)
	binary.BigEndian.PutUint16(big[2:], uint16(len(big)-20))
	binary.BigEndian.PutUint32(big[4:], stunMagicCookie)
	binary.BigEndian.PutUint16(big[20:], 0x0006) // USERNAME
	binary.BigEndian.PutUint16(big[22:], uint16(len(big)-24))
	if resp := stunExchange(t, uc, big, 300*time.Millisecond); resp != nil && len(resp) > len(big) {
		t.Errorf("a %d-byte reply to a %d-byte datagram", len(resp), len(big))
	}
	expectSTUNWorks(t, uc)
}

// stunMessage builds a binding request whose attributes are attrs, then
// SOFTWARE "tailnode" and FINGERPRINT, which makes it Tailscale-format.
func stunMessage(tx stun.TxID, attrs []byte) []byte {
	b := binary.BigEndian.AppendUint16(nil, 0x0001)
	b = binary.BigEndian.AppendUint16(b, 0) // length, set below
	b = binary.BigEndian.AppendUint32(b, stunMagicCookie)
	b = append(b, tx[:]...)
	b = append(b, attrs...)
	b = append(b, 0x80, 0x22, 0, 8)
	b = append(b, "tailnode"...)
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)-20+8))
	fp := crc32.ChecksumIEEE(b) ^ 0x5354554E
	b = append(b, 0x80, 0x28, 0, 4)
	return binary.BigEndian.AppendUint32(b, fp)
}

// commitSTUNManyAttrs sends a well-formed Tailscale request with 1 000
// extra attributes before SOFTWARE. Answered or not, the reply is no
// bigger than the request, and STUN keeps working.
func commitSTUNManyAttrs(t *testing.T, h *hostileEnv) {
	uc, _ := dialSTUN(t, h.s)
	var attrs []byte
	for i := range 1000 {
		attrs = append(attrs, 0x80, 0x01, 0, 4) // comprehension-optional, unknown
		attrs = binary.BigEndian.AppendUint32(attrs, uint32(i))
	}
	req := stunMessage(stun.NewTxID(), attrs)
	resp := stunExchange(t, uc, req, 300*time.Millisecond)
	t.Logf("1000 attributes: %d-byte request, %d-byte reply", len(req), len(resp))
	if len(resp) > len(req) {
		t.Errorf("a %d-byte reply to a %d-byte request", len(resp), len(req))
	}
	expectSTUNWorks(t, uc)
}

// commitSTUNAmplification: a spoofed source would make a STUN server an
// amplifier. For Tailscale-format requests the reply is never larger than
// the request. relayctl also answers bare RFC 5389 requests, whose 20
// bytes get a 32-byte reply; the sizes are logged.
func commitSTUNAmplification(t *testing.T, h *hostileEnv) {
	uc, _ := dialSTUN(t, h.s)
	expectSTUNWorks(t, uc) // the socket is up
	req := stun.Request(stun.NewTxID())
	var resp []byte
	for range stunTries {
		if resp = stunExchange(t, uc, req, stunReplyTimeout); resp != nil {
			break
		}
	}
	t.Logf("Tailscale request %d bytes → reply %d bytes", len(req), len(resp))
	if resp == nil || len(resp) > len(req) {
		t.Errorf("Tailscale request of %d bytes: reply of %d bytes, want 1..%d", len(req), len(resp), len(req))
	}
	plain := plainBindingRequest(stun.NewTxID())
	presp := stunExchange(t, uc, plain, 300*time.Millisecond)
	t.Logf("plain RFC 5389 request %d bytes → reply %d bytes", len(plain), len(presp))
}

// commitSTUNReflectedResponse sends a Binding Success Response, as a
// spoofed source would to bounce two STUN servers off each other: it
// must not be answered.
func commitSTUNReflectedResponse(t *testing.T, h *hostileEnv) {
	uc, self := dialSTUN(t, h.s)
	tx := stun.NewTxID()
	resp := stun.Response(tx, self)
	if got := stunExchange(t, uc, resp, 300*time.Millisecond); got != nil {
		t.Errorf("a STUN response was answered with %d bytes", len(got))
	}
	expectSTUNWorks(t, uc)
}

// commitSTUNTruncated sends datagrams of 0 to 19 bytes: shorter than a
// STUN header, each is dropped.
func commitSTUNTruncated(t *testing.T, h *hostileEnv) {
	uc, _ := dialSTUN(t, h.s)
	full := stun.Request(stun.NewTxID())
	for n := range 20 {
		if _, err := uc.Write(full[:n]); err != nil {
			t.Fatal(err)
		}
	}
	expectSTUNWorks(t, uc)
}

// commitDebugDNSRebinding: a browser lured to a page whose DNS name is
// rebound to 127.0.0.1 reaches /debug/ from loopback but with that name as
// Host. relayctl answers /debug/ only for an IP literal or localhost;
// derper looks at the source address alone.
func commitDebugDNSRebinding(t *testing.T, h *hostileEnv) {
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, h.s.url("/debug/"), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = "rebind.attacker.example"
	resp, err := statsClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	want := map[serverKind]int{relayctlServer: http.StatusForbidden, derperServer: http.StatusOK}[h.kind]
	if resp.StatusCode != want {
		t.Errorf("GET /debug/ with Host: rebind.attacker.example: status %d, want %d", resp.StatusCode, want)
	}
}
