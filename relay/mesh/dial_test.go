package mesh

import (
	"context"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/relayctl/relayctl/relay/key"
)

// lostFirstProxy swallows its first connection (accepted, never answered:
// a handshake lost in a black hole) and relays every later one to target.
type lostFirstProxy struct {
	ln     net.Listener
	target string
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  []net.Conn
}

func newLostFirstProxy(t *testing.T, target string) *lostFirstProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &lostFirstProxy{ln: ln, target: target}
	p.wg.Go(p.accept)
	t.Cleanup(p.close)
	return p
}

func (p *lostFirstProxy) accept() {
	for first := true; ; first = false {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.track(in)
		if first {
			continue
		}
		out, err := net.Dial("tcp", p.target)
		if err != nil {
			in.Close()
			continue
		}
		p.track(out)
		p.wg.Go(func() { io.Copy(in, out); in.Close() })
		p.wg.Go(func() { io.Copy(out, in); out.Close() })
	}
}

func (p *lostFirstProxy) track(c net.Conn) {
	p.mu.Lock()
	p.conns = append(p.conns, c)
	p.mu.Unlock()
}

func (p *lostFirstProxy) close() {
	p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// TestRedialDoesNotWaitForAHungAttempt: the first attempt to reach b
// hangs (its handshake is lost). A second attempt starts HedgeInterval
// later and connects, instead of the mesh waiting out the hung attempt's
// 10 s timeout. (Before hedging the peer connected only after 10 s.)
func TestRedialDoesNotWaitForAHungAttempt(t *testing.T) {
	mk := key.NewMesh()
	b := &node{t: t, addr: "127.0.0.1:0", priv: key.NewNode(), mesh: mk}
	b.start()
	t.Cleanup(b.stop)
	a := &node{t: t, addr: "127.0.0.1:0", priv: key.NewNode(), mesh: mk}
	a.start()
	t.Cleanup(a.stop)
	proxy := newLostFirstProxy(t, b.addr)
	m, err := New(Options{Server: a.srv, PrivateKey: a.priv, MeshKey: mk,
		Peers: []Peer{{Name: "b", URL: b.url(), DialAddr: proxy.ln.Addr().String()}}})
	if err != nil {
		t.Fatal(err)
	}
	m.hedgeInterval = 200 * time.Millisecond
	start := time.Now()
	ctx, cancel := context.WithCancel(t.Context())
	a.done.Go(func() { m.Run(ctx) })
	t.Cleanup(cancel)
	waitMetricWithin(t, a, `relayctl_mesh_peer_connected{peer="b"} 1`, 3*time.Second)
	t.Logf("connected after %v with the first attempt hung", time.Since(start).Round(time.Millisecond))
	deliverEventually(t, dial(t, a), dial(t, b), "through the second attempt")
}
