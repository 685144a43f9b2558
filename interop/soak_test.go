package interop

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/relayctl/relayctl/internal/serverproc"
	"tailscale.com/derp"
	"tailscale.com/derp/derphttp"
	"tailscale.com/types/key"
)

// soakEnv selects the long soak: RELAYCTL_SOAK=10m runs the mixed load for
// ten minutes. Without it TestSoak runs a short variant, so CI covers it.
const soakEnv = "RELAYCTL_SOAK"

// soakPlan sizes one run.
type soakPlan struct {
	load      time.Duration // how long the mixed load runs
	clients   int           // client slots (keys), spread over both nodes
	sendEvery time.Duration // each client's mean gap between packets
	// A slot's connection lives for a random time in [lifeMin, lifeMax),
	// then it disconnects and comes back, on a random node.
	lifeMin, lifeMax time.Duration
}

// The stated bounds: what the soak asserts.
const (
	// soakSteadyDelivery is the delivery rate required outside the
	// restart window (seconds where both nodes were up and meshed).
	soakSteadyDelivery = 0.99
	// soakOverallDelivery covers the whole run, restart included.
	soakOverallDelivery = 0.95
	// soakGoroutineGrowth: after every client has left, a node runs at
	// most this many goroutines more than it did before any came.
	soakGoroutineGrowth = 10
	// soakHeapGrowth bounds the growth of the live heap (HeapInuse after a
	// forced GC) once the clients have left.
	soakHeapGrowth = 16 << 20
	// soakRSSGrowth bounds resident memory growth after the clients have
	// left. It is loose because the Go runtime returns freed pages to the
	// kernel lazily; the heap bound above is the sharp leak check.
	soakRSSGrowth = 128 << 20
)

func soakPlanFromEnv(t *testing.T) soakPlan {
	v := os.Getenv(soakEnv)
	if v == "" {
		return soakPlan{load: 12 * time.Second, clients: 100, sendEvery: 100 * time.Millisecond,
			lifeMin: 2 * time.Second, lifeMax: 8 * time.Second}
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		t.Fatalf("%s=%q: want a positive duration such as 10m", soakEnv, v)
	}
	return soakPlan{load: d, clients: 300, sendEvery: 100 * time.Millisecond,
		lifeMin: 5 * time.Second, lifeMax: 60 * time.Second}
}

// TestSoak runs mixed load against a two-node meshed relayctl region: many
// of Tailscale's derphttp clients that disconnect and come back at random
// (often on the other node), packets between random pairs all the time
// with every one accounted for, and one node restarted (SIGTERM, then the
// same ports and key) half-way. It requires no crash, no corrupted or
// misattributed packet, the delivery rates above, working delivery at the
// end, and goroutines and memory back within bounds once the clients left.
func TestSoak(t *testing.T) {
	if !serverSelected(relayctlServer) {
		t.Skip("relayctl not selected by INTEROP_SERVERS")
	}
	plan := soakPlanFromEnv(t)
	r := newSoakRegion(t)

	before := make([]soakReading, len(r.nodes))
	for i, n := range r.nodes {
		before[i] = n.read(t)
	}

	run := newSoakRun(r, plan)
	ctx, stop := context.WithTimeout(t.Context(), plan.load)
	defer stop()
	var wg sync.WaitGroup
	for _, s := range run.slots {
		wg.Go(func() { run.live(ctx, s) })
	}
	peaks := run.samplePeaks(ctx)

	// Restart node 1 half-way through.
	select {
	case <-time.After(plan.load / 2):
	case <-ctx.Done():
	}
	run.restartBegin.Store(time.Now().UnixNano())
	lost := r.meshReconnects(t, 0)
	r.nodes[1].restart(t)
	// Node 0's link to node 1 must have broken and come back.
	waitUntil(t, meshTimeout, "node 0 noticing node 1's restart", func() error {
		if n := r.meshReconnects(t, 0); n <= lost {
			return fmt.Errorf("relayctl_mesh_reconnects still %v", n)
		}
		return nil
	})
	r.waitMeshed(t)
	run.restartEnd.Store(time.Now().UnixNano())

	<-ctx.Done()
	wg.Wait()
	peak := <-peaks

	rep := run.report()
	t.Logf("soak: %d clients, %v load, %d connects (%d failed), %d packets sent to online clients, %d to offline ones, %d send errors",
		plan.clients, plan.load, run.connects.Load(), run.connectFails.Load(), rep.sent, run.sentOffline.Load(), run.sendErrs.Load())
	t.Logf("soak: delivery overall %.4f (%d/%d), steady %.4f (%d/%d), restart window %.1fs",
		rep.overall(), rep.received, rep.sent, rep.steady(), rep.steadyReceived, rep.steadySent, rep.restartWindow.Seconds())
	if n := run.corrupt.Load(); n != 0 {
		t.Errorf("%d packets arrived corrupted or from the wrong source", n)
	}
	if rep.overall() < soakOverallDelivery {
		t.Errorf("overall delivery %.4f, want ≥ %.2f", rep.overall(), soakOverallDelivery)
	}
	if rep.steady() < soakSteadyDelivery {
		t.Errorf("steady delivery %.4f, want ≥ %.2f", rep.steady(), soakSteadyDelivery)
	}

	// After the load: fresh clients deliver on each node and across them.
	t.Run("delivers_after", func(t *testing.T) {
		a, b := connectPeer(t, r.nodes[0].asServer()), connectPeer(t, r.nodes[1].asServer())
		c := connectPeer(t, r.nodes[0].asServer())
		deliverBothWays(t, a, b, meshTimeout)
		deliverBothWays(t, a, c, meshTimeout)
	})

	for i, n := range r.nodes {
		n.waitClientsGone(t, before[i].clients)
		after := n.read(t)
		t.Logf("soak: node %d: goroutines %d → peak %d → %d; heap in use %s → %s; RSS %s → peak %s → %s",
			i, before[i].goroutines, peak[i].goroutines, after.goroutines,
			mib(before[i].heapInuse), mib(after.heapInuse), mib(before[i].rss), mib(peak[i].rss), mib(after.rss))
		if after.goroutines > before[i].goroutines+soakGoroutineGrowth {
			t.Errorf("node %d: %d goroutines after the clients left, %d before (bound +%d)",
				i, after.goroutines, before[i].goroutines, soakGoroutineGrowth)
		}
		if after.heapInuse > before[i].heapInuse+soakHeapGrowth {
			t.Errorf("node %d: heap in use %s after the clients left, %s before (bound +%s)",
				i, mib(after.heapInuse), mib(before[i].heapInuse), mib(soakHeapGrowth))
		}
		if after.rss > before[i].rss+soakRSSGrowth {
			t.Errorf("node %d: RSS %s after the clients left, %s before (bound +%s)",
				i, mib(after.rss), mib(before[i].rss), mib(soakRSSGrowth))
		}
	}
	for i, n := range r.nodes {
		if crashes := n.crashes(); len(crashes) > 0 {
			t.Errorf("node %d exited on its own: %v", i, crashes)
		}
		if logs := n.logs.String(); strings.Contains(logs, "panic:") || strings.Contains(logs, "fatal error:") {
			t.Errorf("node %d logged a panic", i)
		}
	}
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// soakRegion is two relayctl nodes meshed over plain HTTP.
type soakRegion struct {
	nodes [2]*soakNode
}

func newSoakRegion(t *testing.T) *soakRegion {
	t.Helper()
	meshKey := writeMeshKey(t)
	r := &soakRegion{}
	for i := range r.nodes {
		tcp, udp := freePorts(t)
		r.nodes[i] = &soakNode{tcpPort: tcp, udpPort: udp, stateDir: t.TempDir(), logs: &logBuffer{}}
	}
	meshWith := r.nodes[0].base() + "," + r.nodes[1].base() // each node skips its own entry
	for _, n := range r.nodes {
		n.args = []string{"serve", "--certmode", "none", "--addr", n.addr(),
			"--stun-port", strconv.Itoa(n.udpPort), "--http-port", "-1",
			"--key-file", filepath.Join(n.stateDir, "relay-key.json"), "--log-format", "json",
			"--mesh-psk-file", meshKey, "--mesh-with", meshWith}
		n.start(t)
	}
	r.waitMeshed(t)
	return r
}

// waitMeshed waits until each node reports its mesh link to the other up.
func (r *soakRegion) waitMeshed(t *testing.T) {
	t.Helper()
	for i, n := range r.nodes {
		other := r.nodes[1-i]
		series := fmt.Sprintf(`relayctl_mesh_peer_connected{peer=%q}`, other.base())
		waitUntil(t, meshTimeout, fmt.Sprintf("node %d meshed with node %d", i, 1-i), func() error {
			v, err := varzValue(t.Context(), n.base(), series)
			if err == nil && v != 1 {
				err = fmt.Errorf("%s %v", series, v)
			}
			return err
		})
	}
}

// meshReconnects is node i's count of lost or failed links to the other.
func (r *soakRegion) meshReconnects(t *testing.T, i int) float64 {
	t.Helper()
	series := fmt.Sprintf(`relayctl_mesh_reconnects{peer=%q}`, r.nodes[1-i].base())
	v, err := varzValue(t.Context(), r.nodes[i].base(), series)
	if err != nil && !strings.Contains(err.Error(), "no series") {
		t.Fatal(err)
	}
	return v
}

// soakNode is one relay process that can be restarted as the same node.
type soakNode struct {
	tcpPort, udpPort int
	stateDir         string
	args             []string
	logs             *logBuffer

	mu         sync.Mutex
	proc       *os.Process
	exited     chan struct{}
	deliberate bool     // the test is ending this process
	lastExit   error    // the exit status of the last process that ended
	unexpected []string // exits nobody asked for
}

func (n *soakNode) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(n.tcpPort)) }
func (n *soakNode) base() string { return "http://" + n.addr() }

// asServer lets the single-server helpers (connectPeer) use the node.
func (n *soakNode) asServer() *server {
	n.mu.Lock()
	defer n.mu.Unlock()
	return &server{kind: relayctlServer, httpAddr: n.addr(), logs: n.logs, exited: n.exited, proc: n.proc}
}

func (n *soakNode) start(t *testing.T) {
	t.Helper()
	fmt.Fprintf(n.logs, "--- relayctl %s\n", strings.Join(n.args, " "))
	cmd := exec.Command(binaryFor(t, relayctlServer), n.args...)
	cmd.Dir = n.stateDir
	cmd.Stdout, cmd.Stderr = n.logs, n.logs
	p, err := serverproc.Start(cmd)
	if err != nil {
		t.Fatalf("start relayctl on %s: %v", n.addr(), err)
	}
	exited := make(chan struct{}) // closed once the exit is on the books
	n.mu.Lock()
	n.proc, n.exited, n.deliberate = p.OS(), exited, false
	n.mu.Unlock()
	go func() {
		<-p.Exited()
		n.mu.Lock()
		n.lastExit = p.Err()
		if !n.deliberate {
			n.unexpected = append(n.unexpected, fmt.Sprint(p.Err()))
		}
		n.mu.Unlock()
		close(exited)
	}()
	t.Cleanup(func() {
		n.mu.Lock()
		n.deliberate = true
		n.mu.Unlock()
		p.Kill()
		<-exited
		if t.Failed() {
			t.Logf("node %s logs (tail):\n%s", n.addr(), tail(n.logs.String(), 8000))
		}
	})
	probe := &server{httpAddr: n.addr(), exited: exited}
	if err := probe.waitReady(t.Context()); err != nil {
		t.Fatalf("relayctl on %s: %v", n.addr(), err)
	}
}

// restart stops the node with SIGTERM (a graceful restart: clients get
// Restarting), requires a clean exit, and starts it again.
func (n *soakNode) restart(t *testing.T) {
	t.Helper()
	n.mu.Lock()
	n.deliberate = true
	proc, exited := n.proc, n.exited
	n.mu.Unlock()
	if err := proc.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
	case <-time.After(15 * time.Second):
		t.Fatalf("node %s still running 15 s after SIGTERM", n.addr())
	}
	n.mu.Lock()
	err := n.lastExit
	n.mu.Unlock()
	if err != nil {
		t.Errorf("node %s exited with %v after SIGTERM, want status 0", n.addr(), err)
	}
	n.start(t)
}

func (n *soakNode) crashes() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.unexpected
}

// soakReading is one look at a node's health.
type soakReading struct {
	goroutines int
	rss        int64
	heapInuse  int64
	clients    float64 // derp_current_connections
}

// read forces a GC first, so that the heap figure is live data only.
func (n *soakNode) read(t *testing.T) soakReading {
	t.Helper()
	ctx := t.Context()
	if _, err := debugGet(ctx, n.base(), "/debug/gc"); err != nil {
		t.Fatal(err)
	}
	var r soakReading
	var err error
	if r.goroutines, err = goroutineCount(ctx, n.base()); err != nil {
		t.Fatal(err)
	}
	n.mu.Lock()
	pid := n.proc.Pid
	n.mu.Unlock()
	if r.rss, err = rssBytes(pid); err != nil {
		t.Fatal(err)
	}
	if r.heapInuse, err = heapInuse(ctx, n.base()); err != nil {
		t.Fatal(err)
	}
	if r.clients, err = varzValue(ctx, n.base(), "derp_current_connections"); err != nil {
		t.Fatal(err)
	}
	return r
}

// heapInuse is runtime.MemStats.HeapInuse, from the heap profile's
// "# HeapInuse = N" line.
func heapInuse(ctx context.Context, base string) (int64, error) {
	body, err := debugGet(ctx, base, "/debug/pprof/heap?debug=1")
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(body) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "# HeapInuse = "); ok {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, errors.New("heap profile has no HeapInuse line")
}

// waitClientsGone waits until the node holds no more connections than
// before the load (the mesh link).
func (n *soakNode) waitClientsGone(t *testing.T, baseline float64) {
	t.Helper()
	waitUntil(t, 30*time.Second, fmt.Sprintf("node %s back to %v connections", n.addr(), baseline), func() error {
		v, err := varzValue(t.Context(), n.base(), "derp_current_connections")
		if err == nil && v > baseline {
			err = fmt.Errorf("derp_current_connections %v", v)
		}
		return err
	})
}

// samplePeaks reads each node's goroutines and RSS every second until ctx
// ends, and sends the maxima.
func (run *soakRun) samplePeaks(ctx context.Context) <-chan [2]soakReading {
	out := make(chan [2]soakReading, 1)
	go func() {
		var peak [2]soakReading
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				out <- peak
				return
			case <-tick.C:
			}
			for i, n := range run.region.nodes {
				n.mu.Lock()
				pid := n.proc.Pid
				n.mu.Unlock()
				if rss, err := rssBytes(pid); err == nil {
					peak[i].rss = max(peak[i].rss, rss)
				}
				if g, err := goroutineCount(ctx, n.base()); err == nil {
					peak[i].goroutines = max(peak[i].goroutines, g)
				}
			}
		}
	}()
	return out
}

// soakRun is the load and its accounting.
type soakRun struct {
	region *soakRegion
	plan   soakPlan
	slots  []*soakSlot
	t0     time.Time

	connects, connectFails, sendErrs, sentOffline, corrupt atomic.Int64
	// sentAt and recvAt count packets by the second (since t0) they were
	// sent in, so loss can be told apart by when it happened.
	sentAt, recvAt []atomic.Int64

	restartBegin, restartEnd atomic.Int64 // unix nanoseconds
}

// soakSlot is one client identity; its connections come and go.
type soakSlot struct {
	idx  int
	priv key.NodePrivate
	pub  key.NodePublic
	// online is set while the slot has a connection that completed its
	// handshake. Packets sent to an offline slot are lost by design and
	// accounted apart (sentOffline).
	online atomic.Bool
}

func newSoakRun(r *soakRegion, plan soakPlan) *soakRun {
	run := &soakRun{region: r, plan: plan, t0: time.Now()}
	secs := int(plan.load/time.Second) + 120
	run.sentAt, run.recvAt = make([]atomic.Int64, secs), make([]atomic.Int64, secs)
	for i := range plan.clients {
		priv := key.NewNode()
		run.slots = append(run.slots, &soakSlot{idx: i, priv: priv, pub: priv.Public()})
	}
	return run
}

// live runs one slot until ctx ends: connect to a node, receive and send
// for a random lifetime, disconnect, and again on a random node.
func (run *soakRun) live(ctx context.Context, s *soakSlot) {
	rng := rand.New(rand.NewPCG(uint64(s.idx), uint64(run.t0.UnixNano())))
	node := s.idx % 2
	for ctx.Err() == nil {
		n := run.region.nodes[node]
		node = rng.IntN(2)
		c, err := connectDERP(ctx, s.priv, n.base()+"/derp", msgTimeout)
		if err != nil {
			if ctx.Err() == nil {
				run.connectFails.Add(1) // the node is restarting: try again elsewhere
				pause(ctx, 100*time.Millisecond)
			}
			continue
		}
		run.connects.Add(1)
		s.online.Store(true)
		recvDone := make(chan struct{})
		go func() {
			defer close(recvDone)
			run.receive(c)
		}()
		run.sendFor(ctx, c, s, lifetime(rng, run.plan.lifeMin, run.plan.lifeMax), rng)
		s.online.Store(false)
		c.Close()
		<-recvDone
		pause(ctx, time.Duration(rng.IntN(200))*time.Millisecond)
	}
}

func pause(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// lifetime is a connection's random life in [lifeMin, lifeMax).
func lifetime(rng *rand.Rand, lifeMin, lifeMax time.Duration) time.Duration {
	return lifeMin + time.Duration(rng.Int64N(int64(lifeMax-lifeMin)))
}

// sendAtRandomFor calls send after random gaps (uniform in [every/2,
// 3·every/2)) for life, or until ctx ends.
func sendAtRandomFor(ctx context.Context, life, every time.Duration, rng *rand.Rand, send func()) {
	end := time.NewTimer(life)
	defer end.Stop()
	for {
		gap := every/2 + time.Duration(rng.Int64N(int64(every)))
		select {
		case <-ctx.Done():
			return
		case <-end.C:
			return
		case <-time.After(gap):
		}
		send()
	}
}

// receiveUntilClosed hands every message c gets to handle until c is
// closed, calling hold (if set) before each read. A broken connection
// (its node restarting) is redialled by the next Recv.
func receiveUntilClosed(c *derphttp.Client, hold func(), handle func(derp.ReceivedMessage)) {
	for {
		if hold != nil {
			hold()
		}
		m, err := c.Recv()
		if errors.Is(err, derphttp.ErrClientClosed) {
			return
		}
		if err != nil {
			time.Sleep(roamingRetry) // a reconnect pause, as a real client's backoff
			continue
		}
		handle(m)
	}
}

// sendFor sends soak packets to random other slots for life.
func (run *soakRun) sendFor(ctx context.Context, c *derphttp.Client, s *soakSlot, life time.Duration, rng *rand.Rand) {
	sendAtRandomFor(ctx, life, run.plan.sendEvery, rng, func() {
		dst := run.slots[rng.IntN(len(run.slots))]
		if dst == s {
			return
		}
		now := time.Now()
		online := dst.online.Load()
		if err := c.Send(dst.pub, soakPacket(s.idx, online, rng.Uint64(), now)); err != nil {
			run.sendErrs.Add(1)
			return
		}
		if !online {
			run.sentOffline.Add(1)
			return
		}
		run.sentAt[run.second(now.UnixNano())].Add(1)
	})
}

// soakPacket layout: "SOAK" ‖ src slot (4; top bit set when the
// destination was online when sent) ‖ send time ns (8) ‖ seed (8) ‖
// filler, where filler byte i is byte(seed)+byte(i) and the length is
// 24 to 1199 bytes, chosen by the seed.
func soakPacket(src int, dstOnline bool, seed uint64, at time.Time) []byte {
	b := append([]byte("SOAK"), 0, 0, 0, 0)
	word := uint32(src)
	if dstOnline {
		word |= onlineBit
	}
	binary.BigEndian.PutUint32(b[4:], word)
	b = binary.BigEndian.AppendUint64(b, uint64(at.UnixNano()))
	b = binary.BigEndian.AppendUint64(b, seed)
	for i := range int(seed % 1176) {
		b = append(b, byte(seed)+byte(i))
	}
	return b
}

// receive counts every packet c gets until c is closed.
func (run *soakRun) receive(c *derphttp.Client) {
	receiveUntilClosed(c, nil, func(m derp.ReceivedMessage) {
		if p, ok := m.(derp.ReceivedPacket); ok {
			run.account(p)
		}
	})
}

func (run *soakRun) account(p derp.ReceivedPacket) {
	d := p.Data
	if len(d) < 24 || string(d[:4]) != "SOAK" {
		run.corrupt.Add(1)
		return
	}
	word := binary.BigEndian.Uint32(d[4:])
	src, online := int(word&^onlineBit), word&onlineBit != 0
	at := time.Unix(0, int64(binary.BigEndian.Uint64(d[8:])))
	seed := binary.BigEndian.Uint64(d[16:])
	if src >= len(run.slots) || run.slots[src].pub != p.Source || !bytes.Equal(d, soakPacket(src, online, seed, at)) {
		run.corrupt.Add(1)
		return
	}
	if online {
		run.recvAt[run.second(at.UnixNano())].Add(1)
	}
}

const onlineBit = 1 << 31

func (run *soakRun) second(unixNano int64) int {
	return min(int((unixNano-run.t0.UnixNano())/int64(time.Second)), len(run.sentAt)-1)
}

// soakReport sums the per-second counts. The last two seconds of load are
// left out everywhere (their packets were in flight as clients closed);
// "steady" also leaves out the restart window, one second before the
// SIGTERM to two seconds after the mesh healed.
type soakReport struct {
	sent, received             int64
	steadySent, steadyReceived int64
	restartWindow              time.Duration
}

func (run *soakRun) report() soakReport {
	var rep soakReport
	begin, end := run.restartBegin.Load(), run.restartEnd.Load()
	rep.restartWindow = time.Duration(end - begin)
	skipFrom, skipTo := run.second(begin)-1, run.second(end)+2
	last := int(run.plan.load/time.Second) - 2
	for s := 0; s < last; s++ {
		sent, recv := run.sentAt[s].Load(), run.recvAt[s].Load()
		rep.sent += sent
		rep.received += recv
		if s < skipFrom || s > skipTo {
			rep.steadySent += sent
			rep.steadyReceived += recv
		}
	}
	return rep
}

func (rep soakReport) overall() float64 { return ratio(rep.received, rep.sent) }
func (rep soakReport) steady() float64  { return ratio(rep.steadyReceived, rep.steadySent) }

func ratio(a, b int64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}
