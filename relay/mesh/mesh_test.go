package mesh

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/relayctl/relayctl/internal/waitfor"
	"github.com/relayctl/relayctl/relay/client"
	"github.com/relayctl/relayctl/relay/key"
	"github.com/relayctl/relayctl/relay/server"
	"github.com/relayctl/relayctl/relay/web"
	"github.com/relayctl/relayctl/relay/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// node is one relay of a test region, served over plain HTTP on a fixed
// loopback address so it can be stopped and started again.
type node struct {
	t      *testing.T
	addr   string
	priv   key.NodePrivate
	mesh   key.MeshKey
	peers  []string
	srv    *server.Server
	http   *http.Server
	cancel context.CancelFunc
	ctx    context.Context
	done   sync.WaitGroup
	logger *slog.Logger // nil: discard
}

func (n *node) url() string { return "http://" + n.addr + "/derp" }

func (n *node) start() {
	t := n.t
	srv, err := server.New(server.Options{PrivateKey: n.priv, MeshKey: n.mesh, Logger: n.logger})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n.ctx = ctx
	ln, err := net.Listen("tcp", n.addr)
	if err != nil {
		t.Fatal(err)
	}
	n.addr = ln.Addr().String()
	mux := http.NewServeMux()
	mux.Handle("/derp", web.DERPHandler(ctx, srv, nil))
	n.srv, n.cancel = srv, cancel
	n.http = &http.Server{Handler: mux}
	n.done.Go(func() { n.http.Serve(ln) })
	n.runMesh(ctx, srv, n.peers)
}

// runMesh starts the node's mesh with peers.
func (n *node) runMesh(ctx context.Context, srv *server.Server, urls []string) {
	t := n.t
	if len(urls) == 0 {
		return
	}
	var peers []Peer
	for _, u := range urls {
		p, err := ParsePeer(u)
		if err != nil {
			t.Fatal(err)
		}
		peers = append(peers, p)
	}
	m, err := New(Options{Server: srv, PrivateKey: n.priv, MeshKey: n.mesh, Peers: peers, Logger: n.logger})
	if err != nil {
		t.Fatal(err)
	}
	n.done.Go(func() { m.Run(ctx) })
}

func (n *node) stop() {
	n.cancel()
	n.http.Close()
	n.srv.Close()
	n.done.Wait()
}

// newRegion starts count nodes meshed with each other (every node lists
// every node, itself included, as an operator would in a shared config).
func newRegion(t *testing.T, count int) []*node {
	mk := key.NewMesh()
	nodes := make([]*node, count)
	var urls []string
	for i := range nodes {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		nodes[i] = &node{t: t, addr: addr, priv: key.NewNode(), mesh: mk}
		urls = append(urls, "http://"+addr)
	}
	for _, n := range nodes {
		n.peers = urls
		n.start()
	}
	// Wait until every node watches every other one: before that, a node
	// cannot learn about clients elsewhere (and so cannot pass on their
	// PeerGone), which is the mesh's start-up window, not what these tests
	// are about.
	for _, n := range nodes {
		for _, u := range urls {
			if u == "http://"+n.addr {
				continue
			}
			want := `relayctl_mesh_peer_connected{peer="` + u + `"} 1`
			waitMetric(t, n, want)
		}
	}
	t.Cleanup(func() {
		for _, n := range nodes {
			n.stop()
		}
	})
	return nodes
}

func dial(t *testing.T, n *node) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, n.url(), key.NewNode(), client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// deliverEventually resends until dst receives the packet from src: the
// mesh learns about new clients asynchronously.
func deliverEventually(t *testing.T, src, dst *client.Client, msg string) {
	t.Helper()
	got := make(chan error, 1)
	go func() {
		for {
			m, err := dst.Recv()
			if err != nil {
				got <- err
				return
			}
			if p, ok := m.(*client.ReceivedPacket); ok && p.Source == src.PublicKey() && string(p.Data) == msg {
				got <- nil
				return
			}
		}
	}()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for {
		if err := src.Send(dst.PublicKey(), []byte(msg)); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-got:
			if err != nil {
				t.Fatal(err)
			}
			return
		case <-tick.C:
		case <-deadline:
			t.Fatalf("%q from %v never reached %v", msg, src.PublicKey().ShortString(), dst.PublicKey().ShortString())
		}
	}
}

func TestRegionDeliversAcrossNodes(t *testing.T) {
	nodes := newRegion(t, 3)
	var clients []*client.Client
	for _, n := range nodes {
		clients = append(clients, dial(t, n))
	}
	for i, a := range clients {
		for j, b := range clients {
			if i != j {
				deliverEventually(t, a, b, "hello")
			}
		}
	}
}

func TestPeerGoneCrossesNodes(t *testing.T) {
	nodes := newRegion(t, 2)
	a, b := dial(t, nodes[0]), dial(t, nodes[1])
	deliverEventually(t, a, b, "from a")
	aKey := a.PublicKey()
	a.Close()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		m, err := b.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if pg, ok := m.(client.PeerGone); ok {
			if pg.Key != aKey || pg.Reason != wire.PeerGoneDisconnected {
				t.Fatalf("PeerGone %+v, want %v disconnected", pg, aKey)
			}
			return
		}
	}
	t.Fatal("no PeerGone across the mesh")
}

func TestRegionHealsAfterNodeRestart(t *testing.T) {
	nodes := newRegion(t, 3)
	a := dial(t, nodes[0])
	c := dial(t, nodes[2])
	deliverEventually(t, a, c, "before")

	// Node 1 goes away and comes back on the same address; a client on
	// it must be reachable from the other two again.
	nodes[1].stop()
	nodes[1].start()
	b := dial(t, nodes[1])
	deliverEventually(t, a, b, "after restart 0→1")
	deliverEventually(t, b, c, "after restart 1→2")
}

func TestParsePeer(t *testing.T) {
	for _, tc := range []struct{ in, url, dial string }{
		{"derp1.example.com", "https://derp1.example.com/derp", ""},
		{"derp1.example.com:8443", "https://derp1.example.com:8443/derp", ""},
		{"derp1.example.com/10.0.0.2", "https://derp1.example.com/derp", "10.0.0.2"},
		{"http://127.0.0.1:3340", "http://127.0.0.1:3340/derp", ""},
		{"https://derp2.example.com/derp", "https://derp2.example.com/derp", ""},
		{"[2001:db8::1]:443", "https://[2001:db8::1]:443/derp", ""},
	} {
		p, err := ParsePeer(tc.in)
		if err != nil || p.URL != tc.url || p.DialAddr != tc.dial {
			t.Errorf("ParsePeer(%q) = %+v, %v; want %s dial %q", tc.in, p, err, tc.url, tc.dial)
		}
	}
	for _, bad := range []string{"", "https://", "host/", "2001:db8::1"} {
		if _, err := ParsePeer(bad); err == nil {
			t.Errorf("ParsePeer(%q) accepted", bad)
		}
	}
	peers, err := ParsePeers([]string{"a.example", "b.example", "a.example:443", "b.example"}, "a.example", "a.example:443")
	if err != nil || len(peers) != 1 || peers[0].Name != "b.example" {
		t.Fatalf("ParsePeers skipping self: %+v %v", peers, err)
	}
}

// waitMetric waits until n's metrics have the line want.
func waitMetric(t *testing.T, n *node, want string) {
	t.Helper()
	waitMetricWithin(t, n, want, 10*time.Second)
}

// waitMetricWithin is waitMetric with a deadline of its own, for metrics
// that move at backoff pace.
func waitMetricWithin(t *testing.T, n *node, want string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		var b strings.Builder
		n.srv.Metrics().WritePrometheus(&b)
		if strings.Contains(b.String(), want+"\n") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %s never reported %s", n.addr, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestPeerGoneAfterLateSubscription: node x starts watching node y only
// after y's client a sent to x's client b (forwarded by y, which already
// watched x) and left. x's first full view of y lacks a, so b hears
// PeerGone for it.
func TestPeerGoneAfterLateSubscription(t *testing.T) {
	mk := key.NewMesh()
	x := &node{t: t, addr: "127.0.0.1:0", priv: key.NewNode(), mesh: mk}
	x.start()
	t.Cleanup(x.stop)
	y := &node{t: t, addr: "127.0.0.1:0", priv: key.NewNode(), mesh: mk, peers: []string{"http://" + x.addr}}
	y.start()
	t.Cleanup(y.stop)
	waitMetric(t, y, `relayctl_mesh_peer_connected{peer="http://`+x.addr+`"} 1`)

	b := dial(t, x)
	a := dial(t, y)
	deliverEventually(t, a, b, "before x watches y")
	aKey := a.PublicKey()
	a.Close()
	// y's only connection was a's: x has not connected its mesh to y yet
	// (y's own mesh client is connected to x, not to y).
	waitFor(t, "a gone from y", func() bool { return y.srv.ConnCount() == 0 })

	x.runMesh(x.ctx, x.srv, []string{"http://" + y.addr})
	deadline := time.After(5 * time.Second)
	got := make(chan error, 1)
	go func() {
		for {
			m, err := b.Recv()
			if err != nil {
				got <- err
				return
			}
			if pg, ok := m.(client.PeerGone); ok {
				if pg.Key != aKey || pg.Reason != wire.PeerGoneDisconnected {
					got <- fmt.Errorf("PeerGone %+v, want %v disconnected", pg, aKey.ShortString())
				} else {
					got <- nil
				}
				return
			}
		}
	}()
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-deadline:
		b.Close() // ends the reader goroutine
		t.Fatal("no PeerGone for a sender that left before x watched y")
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	waitfor.Until(t, 5*time.Second, 5*time.Millisecond, what, cond)
}
