package mesh

import (
	"context"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"

	"github.com/relayctl/relayctl/relay/key"
)

// testProxy relays TCP connections to target, as a faulty path between
// two nodes: connections swallow picks (by their number, from 0) are
// accepted and never answered, a handshake lost in a black hole; while
// paused it stops reading from the connecting side, so that side's
// writes back up.
type testProxy struct {
	ln      net.Listener
	target  string
	swallow func(i int) bool // nil: none
	gate    sync.Mutex       // held while paused
	wg      sync.WaitGroup
	mu      sync.Mutex
	conns   []net.Conn
}

func newTestProxy(t *testing.T, target string, swallow func(i int) bool) *testProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &testProxy{ln: ln, target: target, swallow: swallow}
	p.wg.Go(p.accept)
	t.Cleanup(p.close)
	return p
}

func (p *testProxy) addr() string { return p.ln.Addr().String() }

func (p *testProxy) accept() {
	for i := 0; ; i++ {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.track(in)
		if p.swallow != nil && p.swallow(i) {
			continue
		}
		// A small receive buffer: a paused sender's backlog shows quickly.
		in.(*net.TCPConn).SetReadBuffer(16 << 10)
		out, err := net.Dial("tcp", p.target)
		if err != nil {
			in.Close()
			continue
		}
		p.track(out)
		p.wg.Go(func() { io.Copy(in, out); in.Close() })
		p.wg.Go(func() { p.forward(out, in); out.Close() })
	}
}

// forward copies in to out, holding off while the proxy is paused.
func (p *testProxy) forward(out, in net.Conn) {
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
}

func (p *testProxy) pause()  { p.gate.Lock() }
func (p *testProxy) resume() { p.gate.Unlock() }

func (p *testProxy) track(c net.Conn) {
	p.mu.Lock()
	p.conns = append(p.conns, c)
	p.mu.Unlock()
}

func (p *testProxy) close() {
	p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// startPair starts two unmeshed nodes of one region, a logging to
// aLogger (nil: discard), stopped when the test ends.
func startPair(t *testing.T, aLogger *slog.Logger) (a, b *node) {
	mk := key.NewMesh()
	b = &node{t: t, addr: "127.0.0.1:0", priv: key.NewNode(), mesh: mk}
	b.start()
	t.Cleanup(b.stop)
	a = &node{t: t, addr: "127.0.0.1:0", priv: key.NewNode(), mesh: mk, logger: aLogger}
	a.start()
	t.Cleanup(a.stop)
	return a, b
}

// meshThrough runs a's mesh with the one peer b, dialled at dialAddr,
// until the test ends; tune (if set) adjusts the mesh before it runs.
func meshThrough(t *testing.T, a, b *node, dialAddr string, tune func(m *Mesh)) *Mesh {
	t.Helper()
	m, err := New(Options{Server: a.srv, PrivateKey: a.priv, MeshKey: a.mesh, Logger: a.logger,
		Peers: []Peer{{Name: "b", URL: b.url(), DialAddr: dialAddr}}})
	if err != nil {
		t.Fatal(err)
	}
	if tune != nil {
		tune(m)
	}
	ctx, cancel := context.WithCancel(t.Context())
	a.done.Go(func() { m.Run(ctx) })
	t.Cleanup(cancel)
	return m
}
