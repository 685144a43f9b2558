package interop

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/rs/zerolog"
	"tailscale.com/derp"
	"tailscale.com/tailcfg"
)

// Mesh links that degrade: two relayctl nodes whose mesh link from a to b
// runs through Shopify's toxiproxy (in process), which slows, silences,
// half-closes and resets it. b's own mesh link to a is direct, so only
// forwarding from a to b crosses the faulty link.

// meshBlackHole is how long TestMeshFaultBlackHole keeps the link silent.
// The dead-link bound (mesh.PingInterval + mesh.PongTimeout = 10 s) fits in
// the short default; -meshfault.blackhole=30s runs the full outage.
var meshBlackHole = flag.Duration("meshfault.blackhole", 15*time.Second, "how long TestMeshFaultBlackHole keeps the mesh link silent")

// Bounds the tests hold the relay to.
const (
	deadLinkBound  = 10*time.Second + time.Second // PingInterval + PongTimeout, plus a scheduling margin
	resumeBound    = 2 * time.Second              // from the link healing to a packet crossing it
	goroutineSlack = 40                           // ≤ 10 hung redials in flight, a few goroutines each
	rssSlack       = 16 << 20
)

var quietToxiproxy sync.Once

// faultyMesh is the test region: a meshes with b through proxy.
type faultyMesh struct {
	a, b     *regionNode
	proxy    *toxiproxy.Proxy
	peerName string // a's name for b: the --mesh-with entry through the proxy
	sender   *peer  // on a
	receiver *peer  // on b
	roots    string
}

func newFaultyMesh(t *testing.T) *faultyMesh {
	t.Helper()
	if !serverSelected(relayctlServer) {
		t.Skip("relayctl not selected by INTEROP_SERVERS")
	}
	quietToxiproxy.Do(func() { zerolog.SetGlobalLevel(zerolog.Disabled) })
	a := newRegionNode(t, relayctlServer, "900a", "localhost")
	b := newRegionNode(t, relayctlServer, "900b", "localhost")
	proxy := toxiproxy.NewProxy(toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop()),
		"a-to-b", "127.0.0.1:0", b.addr())
	if err := proxy.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Stop)
	_, proxyPort, _ := net.SplitHostPort(proxy.Listen)
	f := &faultyMesh{a: a, b: b, proxy: proxy, peerName: "https://" + net.JoinHostPort("localhost", proxyPort),
		roots: writeCertBundle(t, a, b)}
	meshKey := writeMeshKey(t)
	a.meshWith, b.meshWith = f.peerName, a.meshURL()
	for _, n := range []*regionNode{a, b} {
		n.meshKeyFile = meshKey
		n.env = []string{"SSL_CERT_FILE=" + f.roots}
		n.start(t)
	}
	waitMetric(t, a, fmt.Sprintf(`relayctl_mesh_peer_connected{peer=%q} 1`, f.peerName), meshTimeout)
	waitMetric(t, b, fmt.Sprintf(`relayctl_mesh_peer_connected{peer=%q} 1`, a.meshURL()), meshTimeout)
	f.sender = connectRoamingPeer(t, regionOf(a))
	f.receiver = connectRoamingPeer(t, regionOf(b))
	deliver(t, f.sender, f.receiver, meshTimeout)
	return f
}

// toxic adds a toxic to one stream ("upstream" is a to b) or, with
// stream "both", to each; it returns a func that removes it again.
func (f *faultyMesh) toxic(t *testing.T, name, typ, stream string, attrs map[string]int64) (remove func()) {
	t.Helper()
	streams := []string{stream}
	if stream == "both" {
		streams = []string{"upstream", "downstream"}
	}
	var names []string
	for _, s := range streams {
		spec, _ := json.Marshal(map[string]any{"name": name + "-" + s, "type": typ, "stream": s, "attributes": attrs})
		if _, err := f.proxy.Toxics.AddToxicJson(bytes.NewReader(spec)); err != nil {
			t.Fatalf("toxiproxy %s: %v", spec, err)
		}
		names = append(names, name+"-"+s)
	}
	return sync.OnceFunc(func() {
		for _, n := range names {
			if err := f.proxy.Toxics.RemoveToxic(t.Context(), n); err != nil {
				t.Errorf("toxiproxy: remove %s: %v", n, err)
			}
		}
	})
}

// metric reads one series from n's /debug/varz; a missing series is 0.
func (n *regionNode) metric(t *testing.T, series string) float64 {
	t.Helper()
	return n.metricSum(t, series, false)
}

// metricSum adds up every series of n's /debug/varz named name (with
// labels when labelled), or only the one named exactly name.
func (n *regionNode) metricSum(t *testing.T, name string, labelled bool) float64 {
	t.Helper()
	body, err := n.varz(t.Context())
	if err != nil {
		t.Fatalf("node %s: %v", n.name, err)
	}
	var sum float64
	for line := range strings.Lines(body) {
		series, v, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok || (series != name && !(labelled && strings.HasPrefix(series, name+"{"))) {
			continue
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			t.Fatalf("node %s: %s: %v", n.name, line, err)
		}
		sum += f
	}
	return sum
}

func (f *faultyMesh) series(name string) string { return fmt.Sprintf("%s{peer=%q}", name, f.peerName) }

// health is a node's goroutines and resident memory.
type health struct {
	goroutines int
	rss        int64
}

func (n *regionNode) health(t *testing.T) health {
	t.Helper()
	rss, err := rssBytes(n.proc.Pid)
	if err != nil {
		t.Fatal(err)
	}
	return health{goroutines: int(n.metric(t, "goroutines")), rss: rss}
}

// counter counts the packets with a tag prefix that reach a peer, and
// those of them whose length is not size (torn or spliced frames).
type counter struct {
	size int // 0: any
	n    atomic.Int64
	bad  atomic.Int64
	last atomic.Int64 // unix nanos of the latest arrival
	stop chan struct{}
	done chan struct{}
}

func countArrivals(p *peer, tag string, size int) *counter {
	c := &counter{size: size, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for {
			select {
			case <-c.stop:
				return
			default:
			}
			m, err := p.in.next(100 * time.Millisecond)
			if err != nil {
				continue
			}
			if pkt, ok := m.(derp.ReceivedPacket); ok && bytes.HasPrefix(pkt.Data, []byte(tag)) {
				c.n.Add(1)
				if c.size > 0 && len(pkt.Data) != c.size {
					c.bad.Add(1)
				}
				c.last.Store(time.Now().UnixNano())
			}
			p.in.seen = nil // a long run would keep every packet otherwise
		}
	}()
	return c
}

func (c *counter) close() {
	close(c.stop)
	<-c.done
}

// send sends size-byte tagged packets from f.sender at rate packets per
// second (in bursts every 10 ms, so a busy machine's late ticks do not
// lower the rate much) until stop is closed; it returns how many it sent.
func (f *faultyMesh) send(tag string, size, rate int, stop <-chan struct{}) int {
	pkt := make([]byte, size)
	copy(pkt, tag)
	const tick = 10 * time.Millisecond
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	start, sent := time.Now(), 0
	for {
		select {
		case <-stop:
			return sent
		case <-ticker.C:
			for due := int(time.Since(start) * time.Duration(rate) / time.Second); sent < due; {
				if f.sender.c.Send(f.receiver.pub, pkt) != nil {
					due-- // not sent: the next burst makes up for it
					continue
				}
				sent++
			}
		}
	}
}

// resumeAfter sends a fresh packet every 20 ms until one reaches the
// receiver and returns the time since from.
func (f *faultyMesh) resumeAfter(t *testing.T, from time.Time, within time.Duration) time.Duration {
	t.Helper()
	tag := fmt.Sprintf("resume@%d#", from.UnixNano())
	c := countArrivals(f.receiver, tag, 0)
	defer c.close()
	stop := make(chan struct{})
	go f.send(tag, 64, 50, stop)
	defer close(stop)
	deadline := time.Now().Add(within)
	for c.n.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no packet crossed the mesh within %v after the link healed", within)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Unix(0, c.last.Load()).Sub(from)
}

// probe runs relayctl probe --once on the region.
func (f *faultyMesh) probe(t *testing.T) probeReport {
	t.Helper()
	path := writeDERPMap(t, &tailcfg.DERPMap{Regions: map[int]*tailcfg.DERPRegion{900: regionOf(f.a, f.b)}})
	_, rep, _ := runRelayctlProbe(t, []string{"SSL_CERT_FILE=" + f.roots}, "--derp-map", path, "--timeout", "3s")
	return rep
}

// checkProbe wants both mesh pairs failing, each naming the broken
// direction a→b (the reply of b->a crosses it too), and every node
// check passing.
func (f *faultyMesh) checkProbe(t *testing.T, rep probeReport) {
	t.Helper()
	want := map[string]string{
		"900/900a->900b/mesh": "no packet from 900a arrived at 900b",
		"900/900b->900a/mesh": "packets from 900b arrived at 900a, but no reply came back",
	}
	for _, r := range rep.Results {
		if w, ok := want[r.Name]; ok {
			if r.Status != "fail" || !strings.Contains(r.Error, w) {
				t.Errorf("probe %s: %s (%s), want fail: %s", r.Name, r.Status, r.Error, w)
			}
			delete(want, r.Name)
		} else if r.Status != "ok" {
			t.Errorf("probe %s: %s (%s), want ok: only the mesh link is broken", r.Name, r.Status, r.Error)
		}
	}
	for name := range want {
		t.Errorf("probe reported no %s", name)
	}
}
