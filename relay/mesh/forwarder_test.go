package mesh

import (
	"context"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relayctl/relayctl/relay/key"
)

// pausableProxy relays one TCP connection to target; while paused it stops
// reading from the connecting side, so that side's writes back up.
type pausableProxy struct {
	ln     net.Listener
	target string
	gate   sync.Mutex // held while paused
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  []net.Conn
}

func newPausableProxy(t *testing.T, target string) *pausableProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &pausableProxy{ln: ln, target: target}
	p.wg.Go(p.accept)
	t.Cleanup(p.close)
	return p
}

func (p *pausableProxy) accept() {
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		// A small receive buffer: the sender's backlog shows quickly.
		in.(*net.TCPConn).SetReadBuffer(16 << 10)
		out, err := net.Dial("tcp", p.target)
		if err != nil {
			in.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, in, out)
		p.mu.Unlock()
		p.wg.Go(func() { io.Copy(in, out) })
		p.wg.Go(func() {
			buf := make([]byte, 16<<10)
			for {
				p.gate.Lock()
				p.gate.Unlock()
				n, err := in.Read(buf)
				if n > 0 {
					if _, werr := out.Write(buf[:n]); werr != nil {
						return
					}
				}
				if err != nil {
					return
				}
			}
		})
	}
}

func (p *pausableProxy) pause()  { p.gate.Lock() }
func (p *pausableProxy) resume() { p.gate.Unlock() }

func (p *pausableProxy) close() {
	p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// metricSum adds up every series of the metric name in n's registry.
func metricSum(t *testing.T, n *node, name string) int64 {
	t.Helper()
	var b strings.Builder
	n.srv.Metrics().WritePrometheus(&b)
	var sum int64
	for line := range strings.Lines(b.String()) {
		series, value, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok || (series != name && !strings.HasPrefix(series, name+"{")) {
			continue
		}
		v, err := strconv.ParseInt(value, 10, 64)
		if err != nil {
			t.Fatalf("metric %s: %v", line, err)
		}
		sum += v
	}
	return sum
}

// TestForwardingCountsEveryPacket: node a forwards to node b through a
// link that stalls, so a's forward queue overflows. Every packet a's
// client sent is then either counted forwarded (and b read exactly that
// many ForwardPacket frames) or counted dropped.
func TestForwardingCountsEveryPacket(t *testing.T) {
	mk := key.NewMesh()
	b := &node{t: t, addr: "127.0.0.1:0", priv: key.NewNode(), mesh: mk}
	b.start()
	t.Cleanup(b.stop)
	a := &node{t: t, addr: "127.0.0.1:0", priv: key.NewNode(), mesh: mk}
	a.start()
	t.Cleanup(a.stop)
	proxy := newPausableProxy(t, b.addr)
	m, err := New(Options{Server: a.srv, PrivateKey: a.priv, MeshKey: mk,
		Peers: []Peer{{Name: "b", URL: b.url(), DialAddr: proxy.ln.Addr().String()}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	a.done.Go(func() { m.Run(ctx) })
	t.Cleanup(cancel)
	waitMetric(t, a, `relayctl_mesh_peer_connected{peer="b"} 1`)

	sender, receiver := dial(t, a), dial(t, b)
	deliverEventually(t, sender, receiver, "first")
	go func() {
		for {
			if _, err := receiver.Recv(); err != nil {
				return
			}
		}
	}()

	const packets = 10000
	pkt := make([]byte, 1200)
	proxy.pause()
	for range packets {
		if err := sender.Send(receiver.PublicKey(), pkt); err != nil {
			proxy.resume()
			t.Fatal(err)
		}
	}
	received := func() int64 { return metricSum(t, a, "derp_packets_received") }
	waitFor(t, "a to read every packet", func() bool { return received() >= packets })
	proxy.resume()

	var out, dropped, in int64
	deadline := time.Now().Add(10 * time.Second)
	for {
		out = metricSum(t, a, "derp_packets_forwarded_out")
		dropped = metricSum(t, a, "derp_packets_dropped")
		in = metricSum(t, b, "derp_packets_forwarded_in")
		if out == in && out+dropped == received() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a received %d packets, counted %d forwarded and %d dropped; b read %d forwarded",
				received(), out, dropped, in)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if full := metricSum(t, a, `derp_packets_dropped{reason="queue_head",kind="other"}`); full == 0 {
		t.Fatalf("the stalled link never filled a's forward queue (%d forwarded, %d dropped)", out, dropped)
	}
	if peerDropped := metricSum(t, a, "relayctl_mesh_packets_dropped"); peerDropped != dropped-metricSum(t, a, `derp_packets_dropped{reason="unknown_dest",kind="other"}`) {
		t.Errorf("relayctl_mesh_packets_dropped = %d, want the %d forwarding drops", peerDropped, dropped)
	}
}
