package stunserver

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/pion/stun/v2"
	"github.com/relayctl/relayctl/internal/metrics"
	"github.com/relayctl/relayctl/internal/stunwire"
)

const replyTimeout = 5 * time.Second

// startServer listens on addr and serves until the test ends, checking
// that Serve then returns nil.
func startServer(t *testing.T, addr string) (*Server, *metrics.Registry) {
	t.Helper()
	reg := metrics.NewRegistry()
	s := New(nil, reg)
	if err := s.Listen(addr); err != nil {
		t.Fatalf("Listen(%q): %v", addr, err)
	}
	serveUntilCleanup(t, s)
	return s, reg
}

func serveUntilCleanup(t *testing.T, s *Server) {
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
}

func serverAddrPort(t *testing.T, s *Server, ip string) netip.AddrPort {
	t.Helper()
	port := s.LocalAddr().(*net.UDPAddr).Port
	return netip.AddrPortFrom(netip.MustParseAddr(ip), uint16(port))
}

// newClient opens an unconnected UDP socket on ip, so tests see which
// address a reply came from.
func newClient(t *testing.T, ip string) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(ip), 0)))
	if err != nil {
		t.Fatalf("client socket on %s: %v", ip, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func clientAddrPort(c *net.UDPConn) netip.AddrPort {
	return c.LocalAddr().(*net.UDPAddr).AddrPort()
}

func send(t *testing.T, c *net.UDPConn, to netip.AddrPort, msg []byte) {
	t.Helper()
	if _, err := c.WriteToUDPAddrPort(msg, to); err != nil {
		t.Fatalf("send to %v: %v", to, err)
	}
}

// receive reads the next datagram, failing the test after replyTimeout.
func receive(t *testing.T, c *net.UDPConn) ([]byte, netip.AddrPort) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(replyTimeout))
	buf := make([]byte, 1500)
	n, from, err := c.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatalf("waiting for a reply: %v", err)
	}
	return buf[:n], netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
}

func newTxID(t *testing.T) [12]byte {
	var id [12]byte
	rand.Read(id[:])
	return id
}

// waitCount waits, with a bound, for c to reach want.
func waitCount(t *testing.T, name string, c *metrics.Counter, want int64) {
	t.Helper()
	deadline := time.Now().Add(replyTimeout)
	for c.Value() != want {
		if time.Now().After(deadline) {
			t.Fatalf("%s = %d, want %d", name, c.Value(), want)
		}
		runtime.Gosched()
	}
}

func haveIPv6Loopback() bool {
	c, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func TestServeTailscaleRequestExactReply(t *testing.T) {
	tests := []struct {
		name, ip string
		family   byte
		attrLen  int
	}{
		{name: "ipv4", ip: "127.0.0.1", family: 0x01, attrLen: 8},
		{name: "ipv6", ip: "::1", family: 0x02, attrLen: 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.family == 0x02 && !haveIPv6Loopback() {
				t.Skip("no IPv6 loopback on this host")
			}
			s, _ := startServer(t, net.JoinHostPort(tt.ip, "0"))
			c := newClient(t, tt.ip)
			txID := newTxID(t)
			send(t, c, serverAddrPort(t, s, tt.ip), stunwire.TailscaleRequest(txID))
			reply, _ := receive(t, c)

			// Built by hand from the spec layout, not by the code under test.
			me := clientAddrPort(c)
			key := append([]byte{0x21, 0x12, 0xa4, 0x42}, txID[:]...)
			want := []byte{0x01, 0x01, 0x00, byte(4 + tt.attrLen), 0x21, 0x12, 0xa4, 0x42}
			want = append(want, txID[:]...)
			want = append(want, 0x00, 0x20, 0x00, byte(tt.attrLen), 0x00, tt.family)
			want = append(want, byte(me.Port()>>8)^0x21, byte(me.Port())^0x12)
			ip := me.Addr().AsSlice()
			for i := range ip {
				want = append(want, ip[i]^key[i])
			}
			if !bytes.Equal(reply, want) {
				t.Errorf("reply\n got %x\nwant %x", reply, want)
			}
		})
	}
}

func TestServeRFC5389Request(t *testing.T) {
	tests := []struct {
		name    string
		setters []stun.Setter
	}{
		{name: "bare"},
		{name: "software_and_fingerprint", setters: []stun.Setter{stun.NewSoftware("pion-test"), stun.Fingerprint}},
	}
	s, _ := startServer(t, "127.0.0.1:0")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(t, "127.0.0.1")
			req, err := stun.Build(append([]stun.Setter{stun.TransactionID, stun.BindingRequest}, tt.setters...)...)
			if err != nil {
				t.Fatal(err)
			}
			send(t, c, serverAddrPort(t, s, "127.0.0.1"), req.Raw)
			reply, _ := receive(t, c)
			// stunwire's tests check AppendReply's answers with pion;
			// here, that the server sends exactly that answer.
			want, ok := stunwire.AppendReply(nil, req.Raw, clientAddrPort(c))
			if !ok || !bytes.Equal(reply, want) {
				t.Errorf("reply %x, want %x (answered: %v)", reply, want, ok)
			}
		})
	}
	waitCount(t, "success", s.metrics.success, int64(len(tests)))
	if got := s.metrics.ipv4.Value(); got != int64(len(tests)) {
		t.Errorf("stun_addrfamily{ipv4} = %d, want %d", got, len(tests))
	}
}

func TestServeDropsWithoutReply(t *testing.T) {
	ts := stunwire.TailscaleRequest([12]byte{})
	badFP := bytes.Clone(ts)
	badFP[len(badFP)-1] ^= 1
	// A Binding Success with Tailscale's SOFTWARE: never answer a reply.
	wrongType, err := stun.Build(stun.TransactionID, stun.BindingSuccess, stun.NewSoftware("tailnode"), stun.Fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	pionReq, err := stun.Build(stun.TransactionID, stun.BindingRequest, stun.Fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	pionBadFP := bytes.Clone(pionReq.Raw)
	pionBadFP[len(pionBadFP)-2] ^= 0x80

	tests := []struct {
		name string
		msg  []byte
	}{
		{name: "tailscale_bad_fingerprint", msg: badFP},
		{name: "rfc5389_bad_fingerprint", msg: pionBadFP},
		{name: "truncated", msg: ts[:27]},
		{name: "header_only_prefix", msg: ts[:12]},
		{name: "garbage", msg: []byte("\x16\x03\x01 definitely not STUN, though long enough")},
		{name: "wrong_message_type", msg: wrongType.Raw},
		{name: "empty_datagram", msg: []byte{}},
	}
	s, reg := startServer(t, "127.0.0.1:0")
	to := serverAddrPort(t, s, "127.0.0.1")
	c := newClient(t, "127.0.0.1")
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			send(t, c, to, tt.msg)
			// The server handles datagrams in order, so the next reply
			// must answer this probe; a reply to tt.msg would come first.
			probe := newTxID(t)
			send(t, c, to, stunwire.TailscaleRequest(probe))
			reply, _ := receive(t, c)
			got, _, err := stunwire.ParseResponse(reply)
			if err != nil || got != probe {
				t.Fatalf("first reply after %s is %x (txid %x, err %v), want the probe's %x", tt.name, reply, got, err, probe)
			}
			waitCount(t, "not_stun", s.metrics.notSTUN, int64(i+1))
		})
	}
	waitCount(t, "success", s.metrics.success, int64(len(tests)))

	var out strings.Builder
	if err := reg.WritePrometheus(&out); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		`stun_requests{disposition="not_stun"} 7`,
		`stun_requests{disposition="success"} 7`,
		`stun_requests{disposition="read_error"} 0`,
		`stun_requests{disposition="write_error"} 0`,
		`stun_addrfamily{family="ipv4"} 7`,
		`stun_addrfamily{family="ipv6"} 0`,
	} {
		if !strings.Contains(out.String(), line+"\n") {
			t.Errorf("scrape lacks %q:\n%s", line, out.String())
		}
	}
}

func TestMetricsPrecreatedAtZero(t *testing.T) {
	reg := metrics.NewRegistry()
	New(nil, reg)
	var out strings.Builder
	if err := reg.WritePrometheus(&out); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		`stun_requests{disposition="not_stun"} 0`,
		`stun_requests{disposition="read_error"} 0`,
		`stun_requests{disposition="success"} 0`,
		`stun_requests{disposition="write_error"} 0`,
		`stun_addrfamily{family="ipv4"} 0`,
		`stun_addrfamily{family="ipv6"} 0`,
		`stun_no_local_addr 0`,
	} {
		if !strings.Contains(out.String(), line+"\n") {
			t.Errorf("scrape lacks %q:\n%s", line, out.String())
		}
	}
}

// TestServeWildcardRepliesFromArrivalAddress sends to 127.0.0.2 from
// 127.0.0.1: routing alone would answer from 127.0.0.1.
func TestServeWildcardRepliesFromArrivalAddress(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("arrival-address replies are implemented on Linux only")
	}
	tests := []struct {
		name, clientIP, serverIP string
	}{
		{name: "ipv4_on_dual_stack", clientIP: "127.0.0.1", serverIP: "127.0.0.2"},
		{name: "ipv4_same_address", clientIP: "127.0.0.1", serverIP: "127.0.0.1"},
		{name: "ipv6", clientIP: "::1", serverIP: "::1"},
	}
	dualStack, _ := startServer(t, ":0")
	ipv4Only := New(nil, nil)
	if err := ipv4Only.listen("udp4", "0.0.0.0:0"); err != nil {
		t.Fatal(err)
	}
	serveUntilCleanup(t, ipv4Only)
	tests = append(tests, struct{ name, clientIP, serverIP string }{name: "ipv4_only_socket", clientIP: "127.0.0.1", serverIP: "127.0.0.3"})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := dualStack
			if tt.name == "ipv4_only_socket" {
				s = ipv4Only
			}
			if strings.Contains(tt.serverIP, ":") && !haveIPv6Loopback() {
				t.Skip("no IPv6 loopback on this host")
			}
			c := newClient(t, tt.clientIP)
			to := serverAddrPort(t, s, tt.serverIP)
			txID := newTxID(t)
			send(t, c, to, stunwire.TailscaleRequest(txID))
			reply, from := receive(t, c)
			if from != to {
				t.Errorf("reply came from %v, want %v", from, to)
			}
			gotTx, mapped, err := stunwire.ParseResponse(reply)
			if err != nil || gotTx != txID || mapped != clientAddrPort(c) {
				t.Errorf("ParseResponse = %x %v %v, want %x %v", gotTx, mapped, err, txID, clientAddrPort(c))
			}
			if want := byte(0x01); !strings.Contains(tt.clientIP, ":") && reply[25] != want {
				t.Errorf("IPv4 client got family %d, want %d (unmapped)", reply[25], want)
			}
		})
	}
	for _, s := range []*Server{dualStack, ipv4Only} {
		if got := s.metrics.noLocalAddr.Value(); got != 0 {
			t.Errorf("stun_no_local_addr = %d on %v, want 0", got, s.LocalAddr())
		}
	}
}

func TestServeReturnsOnCancelWithoutGoroutines(t *testing.T) {
	tests := []struct {
		name          string
		cancelFirst   bool
		trafficBefore bool
	}{
		{name: "cancel_while_reading", trafficBefore: true},
		{name: "cancelled_before_serve", cancelFirst: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(nil, nil)
			if err := s.Listen("127.0.0.1:0"); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			if tt.cancelFirst {
				cancel()
			}
			done := make(chan error, 1)
			go func() { done <- s.Serve(ctx) }()
			if tt.trafficBefore {
				c := newClient(t, "127.0.0.1")
				send(t, c, serverAddrPort(t, s, "127.0.0.1"), stunwire.TailscaleRequest(newTxID(t)))
				receive(t, c)
			}
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("Serve = %v, want nil", err)
				}
			case <-time.After(replyTimeout):
				t.Fatal("Serve did not return after cancel")
			}
			if stacks := serverGoroutines(); stacks != "" {
				t.Errorf("goroutines left in the server:\n%s", stacks)
			}
			if _, err := s.conn.WriteToUDPAddrPort([]byte{0}, netip.MustParseAddrPort("127.0.0.1:9")); !errors.Is(err, net.ErrClosed) {
				t.Errorf("socket still open after Serve: write err = %v", err)
			}
		})
	}
}

// serverGoroutines returns the stacks of goroutines running server code.
func serverGoroutines() string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var left []string
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if strings.Contains(g, "stunserver.(*Server)") || strings.Contains(g, "stunserver.(*packetLoop)") {
			left = append(left, g)
		}
	}
	return strings.Join(left, "\n\n")
}

func TestServeBeforeListen(t *testing.T) {
	if err := New(nil, nil).Serve(t.Context()); err == nil {
		t.Error("Serve without Listen returned nil")
	}
}

func TestListenErrors(t *testing.T) {
	tests := []struct{ name, addr string }{
		{name: "no_port", addr: "127.0.0.1"},
		{name: "bad_port", addr: "127.0.0.1:99999"},
		{name: "not_local", addr: "192.0.2.1:0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(nil, nil)
			if err := s.Listen(tt.addr); err == nil {
				s.conn.Close()
				t.Fatalf("Listen(%q) succeeded", tt.addr)
			}
			if s.LocalAddr() != nil {
				t.Errorf("LocalAddr after failed Listen = %v, want nil", s.LocalAddr())
			}
		})
	}
}

// TestServeOneDoesNotAllocate drives the read-answer step by hand, client
// and server on one goroutine, and counts every allocation in between.
func TestServeOneDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	tests := []struct{ name, listen, serverIP string }{
		{name: "bound_address", listen: "127.0.0.1:0", serverIP: "127.0.0.1"},
		{name: "wildcard_with_pktinfo", listen: ":0", serverIP: "127.0.0.2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(nil, nil)
			if err := s.Listen(tt.listen); err != nil {
				t.Fatal(err)
			}
			defer s.conn.Close()
			loop := newPacketLoop(s)
			c := newClient(t, "127.0.0.1")
			to := serverAddrPort(t, s, tt.serverIP)
			req := stunwire.TailscaleRequest(newTxID(t))
			buf := make([]byte, 64)
			c.SetReadDeadline(time.Now().Add(replyTimeout))
			s.conn.SetReadDeadline(time.Now().Add(replyTimeout))
			var failed error
			allocs := testing.AllocsPerRun(200, func() {
				if _, err := c.WriteToUDPAddrPort(req, to); err != nil {
					failed = err
				}
				if err := loop.serveOne(s.conn); err != nil {
					failed = err
				}
				if _, _, err := c.ReadFromUDPAddrPort(buf); err != nil {
					failed = err
				}
			})
			if failed != nil {
				t.Fatal(failed)
			}
			if allocs != 0 {
				t.Errorf("a request costs %.1f allocations", allocs)
			}
		})
	}
}
