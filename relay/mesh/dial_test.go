package mesh

import (
	"context"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/relayctl/relayctl/relay/key"
)

// lossyProxy relays connections to target, except those swallow picks
// (by their number, from 0): those are accepted and never answered, a
// handshake lost in a black hole.
type lossyProxy struct {
	ln      net.Listener
	target  string
	swallow func(i int) bool
	wg      sync.WaitGroup
	mu      sync.Mutex
	conns   []net.Conn
}

func newLossyProxy(t *testing.T, target string, swallow func(i int) bool) *lossyProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &lossyProxy{ln: ln, target: target, swallow: swallow}
	p.wg.Go(p.accept)
	t.Cleanup(p.close)
	return p
}

func (p *lossyProxy) accept() {
	for i := 0; ; i++ {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.track(in)
		if p.swallow(i) {
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

func (p *lossyProxy) track(c net.Conn) {
	p.mu.Lock()
	p.conns = append(p.conns, c)
	p.mu.Unlock()
}

func (p *lossyProxy) close() {
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
	proxy := newLossyProxy(t, b.addr, func(i int) bool { return i == 0 })
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

// TestRedialAfterABlackHoleHeals: for 2 s every attempt to reach b hangs
// (many dial rounds, each timing out). Hung rounds do not grow the
// backoff, so once the path heals the mesh connects within a hedge
// interval or so. (With the backoff doubling on every failure it had
// grown to its 5 s cap, and the mesh took up to 7.5 s to try again.)
func TestRedialAfterABlackHoleHeals(t *testing.T) {
	mk := key.NewMesh()
	b := &node{t: t, addr: "127.0.0.1:0", priv: key.NewNode(), mesh: mk}
	b.start()
	t.Cleanup(b.stop)
	a := &node{t: t, addr: "127.0.0.1:0", priv: key.NewNode(), mesh: mk}
	a.start()
	t.Cleanup(a.stop)
	var healed atomic.Bool
	proxy := newLossyProxy(t, b.addr, func(int) bool { return !healed.Load() })
	m, err := New(Options{Server: a.srv, PrivateKey: a.priv, MeshKey: mk,
		Peers: []Peer{{Name: "b", URL: b.url(), DialAddr: proxy.ln.Addr().String()}}})
	if err != nil {
		t.Fatal(err)
	}
	m.hedgeInterval, m.dialTimeout = 100*time.Millisecond, 200*time.Millisecond
	ctx, cancel := context.WithCancel(t.Context())
	a.done.Go(func() { m.Run(ctx) })
	t.Cleanup(cancel)
	waitMetricWithin(t, a, `relayctl_mesh_reconnects{peer="b"} 6`, 10*time.Second)
	healed.Store(true)
	start := time.Now()
	waitMetricWithin(t, a, `relayctl_mesh_peer_connected{peer="b"} 1`, time.Second)
	t.Logf("connected %v after the path healed", time.Since(start).Round(time.Millisecond))
}
