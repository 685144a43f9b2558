package interop

import (
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"tailscale.com/derp"
	"tailscale.com/derp/derphttp"
	"tailscale.com/types/key"
)

// chaosSoakFlag selects the long chaos soak: -soak.chaos=10m. Without it
// TestChaosSoak runs a short variant, so CI covers it.
var chaosSoakFlag = flag.Duration("soak.chaos", 0, "run TestChaosSoak for this long (e.g. 10m); 0 runs the short variant")

// chaosPlan sizes one run.
type chaosPlan struct {
	load         time.Duration // how long the senders send
	clients      int
	sendEvery    time.Duration // each client's mean gap between packets
	restartEvery time.Duration // node 1 is restarted this often
	stuckEvery   time.Duration // a new client stops reading this often…
	stuckFor     time.Duration // …for this long (beyond the 2 s write timeout)
	// A connection lives for a random time in [lifeMin, lifeMax).
	lifeMin, lifeMax time.Duration
}

func chaosPlanFromFlag() chaosPlan {
	if d := *chaosSoakFlag; d > 0 {
		return chaosPlan{load: d, clients: 200, sendEvery: 50 * time.Millisecond, restartEvery: time.Minute,
			stuckEvery: 10 * time.Second, stuckFor: 4 * time.Second, lifeMin: 5 * time.Second, lifeMax: 60 * time.Second}
	}
	return chaosPlan{load: 36 * time.Second, clients: 60, sendEvery: 50 * time.Millisecond, restartEvery: 12 * time.Second,
		stuckEvery: 5 * time.Second, stuckFor: 3 * time.Second, lifeMin: 2 * time.Second, lifeMax: 8 * time.Second}
}

// TestChaosSoak runs a two-node meshed region under client churn, node 1
// restarted (SIGTERM, same ports and key) every restartEvery, and one
// client at a time that stops reading, and accounts for every packet:
// what the clients sent is what they received, plus what the nodes
// counted as dropped (derp_packets_dropped, by reason, summed over every
// process), plus what was in flight when a node went away. It also
// requires each node process that lives to the end to balance its own
// books exactly: packets in (from clients and mesh peers) = packets out
// (to clients and mesh peers) + dropped.
func TestChaosSoak(t *testing.T) {
	if !serverSelected(relayctlServer) {
		t.Skip("relayctl not selected by INTEROP_SERVERS")
	}
	plan := chaosPlanFromFlag()
	r := newSoakRegion(t)
	run := newChaosRun(r, plan)
	var baseline [2]float64 // connections before any client: the mesh links
	for i, n := range r.nodes {
		v, err := varzValue(t.Context(), n.base(), "derp_current_connections")
		if err != nil {
			t.Fatal(err)
		}
		baseline[i] = v
	}

	ctx, stopLoad := context.WithTimeout(t.Context(), plan.load)
	defer stopLoad()
	var clients sync.WaitGroup
	for _, s := range run.slots {
		clients.Go(func() { run.live(ctx, s) })
	}
	var stuck sync.WaitGroup
	stuck.Go(func() { run.stickReceivers(ctx) })

	restarts := 0
	tick := time.NewTicker(plan.restartEvery)
	defer tick.Stop()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-tick.C:
		}
		run.restartNode1(t)
		restarts++
	}
	stuck.Wait()
	clients.Wait()

	// Every client has left: the books of the processes still running
	// are closed.
	for i, n := range r.nodes {
		n.waitClientsGone(t, baseline[i])
		run.addDrops(t, i, "end")
	}
	for i, n := range r.nodes {
		waitUntil(t, 10*time.Second, fmt.Sprintf("node %d books balance", i), func() error {
			return nodeBalance(t.Context(), n.base())
		})
	}

	rep := run.report()
	t.Logf("chaos: %d clients, %v, node 1 restarted %d times, %d clients stuck for %v each, %d connects",
		plan.clients, plan.load, restarts, run.stuckCount.Load(), plan.stuckFor, run.connects.Load())
	t.Logf("chaos: sent %d = delivered %d + dropped %d %v + in flight %d (at most: %d sent through a node in its restart window, %d to a client leaving, %d failed sends)",
		rep.sent, rep.delivered, rep.dropped, rep.byReason, rep.unexplained, rep.restartWindowSent, rep.sentToLeaving, rep.sendErrs)
	t.Logf("chaos: by hop: clients sent %d, relays received %d; relays forwarded %d, received %d forwarded; relays sent %d, clients received %d",
		rep.sent, run.hops["derp_packets_received"], run.hops["derp_packets_forwarded_out"], run.hops["derp_packets_forwarded_in"], run.hops["derp_packets_sent"], rep.delivered)
	if n := run.corrupt.Load(); n != 0 {
		t.Errorf("%d packets arrived corrupted or from the wrong source", n)
	}
	if n := run.duplicates.Load(); n != 0 {
		t.Errorf("%d packets arrived twice", n)
	}
	// In flight: sent through node 1 in its restart window, to a client
	// closing its connection, or by a Send that failed. The other way: a
	// write that fails part-way may have put some of its packets on the
	// wire whole, yet all its packets count as write_error.
	allowance := rep.restartWindowSent + rep.sentToLeaving + rep.sendErrs
	if rep.unexplained < -rep.byReason["write_error"] || rep.unexplained > allowance {
		t.Errorf("%d packets unaccounted for (sent − delivered − dropped), want between −%d (write_error) and the %d that were in flight",
			rep.unexplained, rep.byReason["write_error"], allowance)
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

// chaosRun is the load and its accounting.
type chaosRun struct {
	region *soakRegion
	plan   chaosPlan
	slots  []*chaosSlot
	// flooder is the last slot: it only floods stuck receivers.
	flooder *chaosSlot

	connects, sendErrs, corrupt, duplicates, stuckCount atomic.Int64

	// restarting is set from just before node 1's last reading until it
	// is back up: packets sent then through node 1 may vanish with it.
	restarting        atomic.Bool
	restartWindowSent atomic.Int64
	// sentToLeaving counts packets sent to a slot that was leaving.
	sentToLeaving atomic.Int64

	mu    sync.Mutex
	drops map[string]int64 // derp_packets_dropped by reason, over every process
	hops  map[string]int64 // hopCounters, over every process
}

// chaosSlot is one client identity; its connections come and go.
type chaosSlot struct {
	idx  int
	priv key.NodePrivate
	pub  key.NodePublic
	node atomic.Int32 // the node it is connected to, -1 while not
	// stuck makes the client stop reading (and sending) for a while.
	stuck atomic.Bool
	// catchUpUntil (unix ns) keeps a client that was stuck from sending
	// until it has read what piled up: if the relay closed it meanwhile,
	// writing would draw a reset that discards what it has not read yet.
	catchUpUntil atomic.Int64
	// leaving is set from its last Ping until its connection is closed:
	// packets sent to it then may be on their way at the close.
	leaving atomic.Bool

	seq  atomic.Uint64 // packets sent so far
	mu   sync.Mutex
	seen []uint64 // bit per sequence number: delivered
}

func newChaosRun(r *soakRegion, plan chaosPlan) *chaosRun {
	run := &chaosRun{region: r, plan: plan, drops: map[string]int64{}, hops: map[string]int64{}}
	for i := range plan.clients + 1 {
		priv := key.NewNode()
		s := &chaosSlot{idx: i, priv: priv, pub: priv.Public()}
		s.node.Store(-1)
		run.slots = append(run.slots, s)
	}
	run.flooder = run.slots[len(run.slots)-1]
	run.slots = run.slots[:len(run.slots)-1]
	return run
}

// restartNode1 reads node 1's drop counters as late as possible, then
// restarts it (SIGTERM: clients get Restarting) and waits for the mesh.
func (run *chaosRun) restartNode1(t *testing.T) {
	t.Helper()
	run.restarting.Store(true)
	defer run.restarting.Store(false)
	time.Sleep(200 * time.Millisecond) // packets sent just before the flag went up are in the window too: a margin, not a wait
	run.addDrops(t, 1, "restart")
	// What node 1 still holds in its queues goes out or is dropped after
	// this reading: in flight.
	if q, err := varzValue(t.Context(), run.region.nodes[1].base(), "relayctl_send_queue_packets"); err == nil {
		run.restartWindowSent.Add(int64(q))
	}
	run.region.nodes[1].restart(t)
	run.region.waitMeshed(t)
}

// addDrops adds node i's derp_packets_dropped to the run's total.
func (run *chaosRun) addDrops(t *testing.T, i int, when string) {
	t.Helper()
	byReason, err := varzFamily(t.Context(), run.region.nodes[i].base(), "derp_packets_dropped")
	if err != nil {
		t.Fatalf("node %d at %s: %v", i, when, err)
	}
	run.mu.Lock()
	defer run.mu.Unlock()
	for labels, v := range byReason {
		run.drops[labelValue(labels, "reason")] += int64(v)
	}
	for _, name := range hopCounters {
		v, err := varzValue(t.Context(), run.region.nodes[i].base(), name)
		if err != nil {
			t.Fatalf("node %d at %s: %v", i, when, err)
		}
		run.hops[name] += int64(v)
	}
}

// hopCounters are the relays' counts at each hop a packet takes: from a
// client, over the mesh, to a client.
var hopCounters = []string{"derp_packets_received", "derp_packets_forwarded_out", "derp_packets_forwarded_in", "derp_packets_sent"}

// stickReceivers makes one online client at a time stop reading.
func (run *chaosRun) stickReceivers(ctx context.Context) {
	rng := rand.New(rand.NewPCG(1, uint64(time.Now().UnixNano())))
	for {
		pause(ctx, run.plan.stuckEvery)
		if ctx.Err() != nil {
			return
		}
		s := run.slots[rng.IntN(len(run.slots))]
		if s.node.Load() < 0 {
			continue
		}
		run.stuckCount.Add(1)
		s.stuck.Store(true)
		run.flood(ctx, s, rng)
		s.catchUpUntil.Store(time.Now().Add(catchUp).UnixNano())
		s.stuck.Store(false)
	}
}

// flood sends to the stuck slot s from the flooder slot, as fast as a
// client can, for stuckFor: enough to fill the socket buffers and the
// relay's queue, so that the relay must drop and then close s.
func (run *chaosRun) flood(ctx context.Context, s *chaosSlot, rng *rand.Rand) {
	ctx, cancel := context.WithTimeout(ctx, run.plan.stuckFor)
	defer cancel()
	f := run.flooder
	node := rng.IntN(2)
	c, err := connectDERP(ctx, f.priv, run.region.nodes[node].base()+"/derp", msgTimeout)
	if err != nil {
		<-ctx.Done()
		return
	}
	defer c.Close()
	for ctx.Err() == nil {
		run.send(c, f, s, node, rng.Uint64()|999) // the largest packets
	}
	run.leave(c)
}

// leave waits until the relay has read everything c sent: a client
// that closes with data unread in its own socket ends with a reset, and a
// reset throws away what the relay had not read yet — packets the client
// abandoned, not ones the relay lost.
func (run *chaosRun) leave(c *derphttp.Client) {
	ping := [8]byte{'l', 'e', 'a', 'v', 'i', 'n', 'g'}
	if err := c.SendPing(ping); err != nil {
		return
	}
	giveUp := time.AfterFunc(msgTimeout, func() { c.Close() })
	defer giveUp.Stop()
	for {
		m, err := c.Recv()
		if err != nil {
			return
		}
		switch m := m.(type) {
		case derp.PongMessage:
			if m == ping {
				return
			}
		case derp.ReceivedPacket:
			run.account(m)
		}
	}
}

// live runs one slot until ctx ends: connect to a random node, receive
// and send for a random lifetime, leave, and again.
func (run *chaosRun) live(ctx context.Context, s *chaosSlot) {
	rng := rand.New(rand.NewPCG(uint64(s.idx), uint64(time.Now().UnixNano())))
	for ctx.Err() == nil {
		node := rng.IntN(2)
		c, err := connectDERP(ctx, s.priv, run.region.nodes[node].base()+"/derp", msgTimeout)
		if err != nil {
			pause(ctx, 100*time.Millisecond) // node 1 restarting: try again
			continue
		}
		run.connects.Add(1)
		s.node.Store(int32(node))
		recvDone := make(chan struct{})
		pongs := make(chan derp.PongMessage, 1)
		go func() {
			defer close(recvDone)
			run.receive(c, s, pongs)
		}()
		run.sendFor(ctx, c, s, node, lifetime(rng, run.plan.lifeMin, run.plan.lifeMax), rng)
		// Leave as a client that is done leaves: others stop picking it,
		// and it reads what is on its way before it closes (a Pong comes
		// after everything already written to it, and its batch's
		// packets right behind).
		s.node.Store(-1)
		for s.stuck.Load() || s.catchingUp() {
			pause(context.Background(), 50*time.Millisecond)
		}
		pause(context.Background(), 200*time.Millisecond)
		s.leaving.Store(true)
		if c.SendPing([8]byte{'l', 'e', 'a', 'v', 'i', 'n', 'g'}) == nil {
			select {
			case <-pongs:
				pause(context.Background(), 100*time.Millisecond)
			case <-time.After(msgTimeout):
			}
		}
		c.Close()
		<-recvDone
		s.leaving.Store(false)
		pause(ctx, time.Duration(rng.IntN(200))*time.Millisecond)
	}
}

// sendFor sends chaos packets to random other slots (online or not: the
// relay counts what it cannot deliver) for life, or until ctx ends.
func (run *chaosRun) sendFor(ctx context.Context, c *derphttp.Client, s *chaosSlot, node int, life time.Duration, rng *rand.Rand) {
	sendAtRandomFor(ctx, life, run.plan.sendEvery, rng, func() {
		if s.stuck.Load() || s.catchingUp() {
			return
		}
		dst := run.slots[rng.IntN(len(run.slots))]
		if dst == s {
			return
		}
		run.send(c, s, dst, node, rng.Uint64())
	})
}

// send sends one chaos packet from s (connected to node) to dst.
func (run *chaosRun) send(c *derphttp.Client, s, dst *chaosSlot, node int, seed uint64) {
	dstNode := dst.node.Load()
	seq := s.seq.Load()
	if err := c.Send(dst.pub, chaosPacket(s.idx, seq, seed)); err != nil {
		// The connection broke (node 1 restarting); whether the bytes
		// left is unknown.
		run.sendErrs.Add(1)
	}
	s.seq.Add(1)
	if run.restarting.Load() && (node == 1 || dstNode == 1) {
		run.restartWindowSent.Add(1)
	} else if dst.leaving.Load() {
		run.sentToLeaving.Add(1)
	}
}

// catchUp is how long a client that was stuck reads before it writes
// again: enough to read its socket buffers' worth.
const catchUp = time.Second

func (s *chaosSlot) catchingUp() bool { return time.Now().UnixNano() < s.catchUpUntil.Load() }

// chaosPacket layout: "CHAOS" ‖ src slot (4) ‖ seq (8) ‖ seed (8) ‖ filler
// byte i = byte(seed)+byte(i), 0 to 999 bytes chosen by the seed.
func chaosPacket(src int, seq, seed uint64) []byte {
	b := append([]byte("CHAOS"), 0, 0, 0, 0)
	binary.BigEndian.PutUint32(b[5:], uint32(src))
	b = binary.BigEndian.AppendUint64(b, seq)
	b = binary.BigEndian.AppendUint64(b, seed)
	for i := range int(seed % 1000) {
		b = append(b, byte(seed)+byte(i))
	}
	return b
}

const chaosHeader = 5 + 4 + 8 + 8

// receive reads c until it is closed, pausing while s is stuck. A broken
// connection is redialled by the next Recv.
func (run *chaosRun) receive(c *derphttp.Client, s *chaosSlot, pongs chan<- derp.PongMessage) {
	hold := func() {
		for s.stuck.Load() {
			time.Sleep(50 * time.Millisecond) // a client that stopped reading
		}
	}
	receiveUntilClosed(c, hold, func(m derp.ReceivedMessage) {
		switch m := m.(type) {
		case derp.ReceivedPacket:
			run.account(m)
		case derp.PongMessage:
			select {
			case pongs <- m:
			default:
			}
		}
	})
}

func (run *chaosRun) account(p derp.ReceivedPacket) {
	d := p.Data
	if len(d) < chaosHeader || string(d[:5]) != "CHAOS" {
		run.corrupt.Add(1)
		return
	}
	src := int(binary.BigEndian.Uint32(d[5:]))
	seq := binary.BigEndian.Uint64(d[9:])
	seed := binary.BigEndian.Uint64(d[17:])
	s := run.flooder
	if src < len(run.slots) {
		s = run.slots[src]
	}
	if s.idx != src || s.pub != p.Source || string(d) != string(chaosPacket(src, seq, seed)) {
		run.corrupt.Add(1)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	word, bit := int(seq/64), uint64(1)<<(seq%64)
	if word >= len(s.seen) {
		s.seen = slices.Grow(s.seen, word+1-len(s.seen))[:word+1]
	}
	if s.seen[word]&bit != 0 {
		run.duplicates.Add(1)
		return
	}
	s.seen[word] |= bit
}
