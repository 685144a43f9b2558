package interop

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"tailscale.com/derp"
	"tailscale.com/derp/derphttp"
	"tailscale.com/net/netmon"
	"tailscale.com/tailcfg"
	"tailscale.com/types/key"
	"tailscale.com/types/logger"
)

// tailnetRoundsEnv selects a longer run of TestTailnetRegionFaults:
// RELAYCTL_TAILNET_ROUNDS=2 goes through the fault sequence twice on the
// same streams, the second time as a rolling restart (each fault right
// after the previous node's restart, before the mesh has healed); odd
// rounds wait for the mesh, even rounds do not. CI runs one round.
const tailnetRoundsEnv = "RELAYCTL_TAILNET_ROUNDS"

const (
	// streamResumeBytes is how far every stream must get past its count at the
	// fault before the fault counts as ridden out: half a second of
	// traffic, more than TCP holds in flight at this pace.
	streamResumeBytes = 128 << 10
	// streamResumeTimeout bounds the wait for every stream to flow again.
	streamResumeTimeout = 30 * time.Second
)

// TestTailnetRegionFaults is the product's purpose end to end: three real
// tailscaled nodes (userspace networking, joined to testcontrol,
// TS_DEBUG_ALWAYS_USE_DERP so nothing goes direct) whose only DERP region
// is three meshed relays over TLS, each tailscaled homed on a different
// relay so every stream crosses the mesh. Long TCP streams run around the
// triangle while each relay in turn is killed (SIGKILL) and restarted,
// then stopped (SIGTERM) and restarted. Every stream must arrive intact
// (byte count and SHA-256 at the far end) and resume within
// streamResumeTimeout after each fault; the longest pause each fault caused and
// the time the mesh took to heal after each restart are logged, for
// relayctl and for a region of three meshed derpers, the reference.
func TestTailnetRegionFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs tailscaled")
	}
	rounds := 1
	if v := os.Getenv(tailnetRoundsEnv); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("%s=%q: want a number of rounds ≥ 1", tailnetRoundsEnv, v)
		}
		rounds = n
	}
	t.Parallel()
	results := map[serverKind][]tailnetFault{}
	// One server at a time: the pauses are tens of milliseconds, and two
	// regions with six tailscaleds would mostly measure each other.
	for _, k := range selectedKinds() {
		t.Run(string(k), func(t *testing.T) {
			results[k] = runTailnetFaults(t, k, rounds)
		})
	}
	logTailnetFaults(t, results)
}

// tailnetFault is one fault, the longest pause it caused in any stream
// (the time until traffic flowed again), and how long the mesh took to
// carry traffic to and from the node again after its restart.
type tailnetFault struct {
	fault   string // "kill 900a", "stop 900b (rolling)"
	pause   time.Duration
	streams []string      // per stream: "n1→n2 31ms"
	exit    time.Duration // SIGTERM to exit; 0 for a kill
	heal    time.Duration // restart to meshed again; 0 when not waited for
}

// tailnetRegion is the test's tailnet: the relays, the tailscaled nodes
// with their keys, and the streams between them.
type tailnetRegion struct {
	kind    serverKind
	tn      *tailnet
	relays  []*regionNode
	meshKey key.DERPMesh
	nodes   []*tailscaledNode
	keys    []key.NodePublic
	streams []*tailnetStream
}

func runTailnetFaults(t *testing.T, k serverKind, rounds int) []tailnetFault {
	start := time.Now()
	tr := newTailnetRegion(t, k)
	tr.homeApart(t)
	sink := startStreamSink(t)
	for i, src := range tr.nodes {
		dst := tr.nodes[(i+1)%len(tr.nodes)]
		tr.streams = append(tr.streams, startStream(t, sink, uint64(i+1), src, dst))
	}
	tr.awaitResumed(t, make([]int64, len(tr.streams)), "streams flowing")
	t.Logf("%s: tailnet up, streams flowing after %v", k, time.Since(start).Round(time.Millisecond))

	var results []tailnetFault
	for round := 0; round < rounds && !t.Failed(); round++ {
		rolling := round%2 == 1
		for _, how := range []string{"kill", "stop"} {
			for _, r := range tr.relays {
				if t.Failed() {
					break
				}
				res := tr.fault(t, how, r)
				r.start(t)
				if rolling {
					res.fault += " (rolling)"
				} else {
					restarted := time.Now()
					tr.awaitMeshed(t, r)
					res.heal = time.Since(restarted)
				}
				results = append(results, res)
				t.Logf("%s: %s: traffic flowing again after %v (%s); exit %v, meshed again %v after the restart", k, res.fault,
					res.pause.Round(time.Millisecond), strings.Join(res.streams, ", "), res.exit.Round(time.Millisecond), res.heal.Round(time.Millisecond))
			}
		}
		if rolling {
			for _, r := range tr.relays {
				tr.awaitMeshed(t, r)
			}
		}
	}
	for _, st := range tr.streams {
		if err := st.finish(); err != nil {
			t.Error(err)
		} else {
			t.Logf("%s: stream %s: %d bytes intact", k, st.name, st.sent)
		}
	}
	for _, err := range sink.failures() {
		t.Errorf("stream sink: %v", err)
	}
	t.Logf("%s: %v in all", k, time.Since(start).Round(time.Millisecond))
	return results
}

// newTailnetRegion starts three meshed relays of kind k (named localhost,
// which derper's mesh dials, each with its own self-signed certificate
// that the DERP map pins) and three tailscaled nodes whose only region
// they are.
func newTailnetRegion(t *testing.T, k serverKind) *tailnetRegion {
	t.Helper()
	meshKeyFile := writeMeshKey(t)
	b, err := os.ReadFile(meshKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	mk, err := key.ParseDERPMesh(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	tr := &tailnetRegion{kind: k, meshKey: mk}
	for i := range 3 {
		tr.relays = append(tr.relays, newRegionNode(t, k, fmt.Sprintf("900%c", 'a'+i), "localhost"))
	}
	roots := writeCertBundle(t, tr.relays...)
	var meshWith []string
	for _, r := range tr.relays {
		if k == derperServer {
			meshWith = append(meshWith, r.meshHostPort())
		} else {
			meshWith = append(meshWith, r.meshURL())
		}
	}
	for _, r := range tr.relays {
		r.meshKeyFile, r.meshWith = meshKeyFile, strings.Join(meshWith, ",")
		r.env = []string{"SSL_CERT_FILE=" + roots} // the mesh verifies its peers' certificates
	}
	for _, r := range tr.relays {
		r.start(t)
	}

	dm := &tailcfg.DERPMap{OmitDefaultRegions: true, Regions: map[int]*tailcfg.DERPRegion{900: regionOf(tr.relays...)}}
	tn := newTailnetWith(t, dm, "TS_DEBUG_ALWAYS_USE_DERP=1")
	for i := range 3 {
		n := tn.startNode(t, fmt.Sprintf("n%d", i+1))
		tr.nodes = append(tr.nodes, n)
		tr.keys = append(tr.keys, n.nodeKey(t).Public())
	}
	for i, n := range tr.nodes {
		for j, k := range tr.keys {
			if i != j {
				n.awaitPeer(t, k)
			}
		}
	}
	tr.tn = tn
	return tr
}

// homeApart gives each tailscaled a DERP map that lists the relays in its
// own order (n1: a b c, n2: b c a, n3: c a b), so each is homed on a
// different relay and falls back to the next one. testcontrol sends one
// map to all, so the per-node maps go out as raw map responses (which also
// stop testcontrol's automatic ones; the netmaps are complete by now).
func (tr *tailnetRegion) homeApart(t *testing.T) {
	t.Helper()
	for i, k := range tr.keys {
		var order []*regionNode
		for j := range tr.relays {
			order = append(order, tr.relays[(i+j)%len(tr.relays)])
		}
		mr := &tailcfg.MapResponse{DERPMap: &tailcfg.DERPMap{OmitDefaultRegions: true,
			Regions: map[int]*tailcfg.DERPRegion{900: regionOf(order...)}}}
		if !tr.tn.control.AddRawMapResponse(k, mr) {
			t.Fatalf("%s has no map stream to send its DERP map to", tr.nodes[i].name)
		}
	}
	for i, k := range tr.keys {
		tr.waitClientOn(t, tr.relays[i], k, tailnetUpTimeout)
	}
}

// waitClientOn waits until relay r reports k among its local clients, as
// it tells a mesh watcher.
func (tr *tailnetRegion) waitClientOn(t *testing.T, r *regionNode, k key.NodePublic, timeout time.Duration) {
	t.Helper()
	c := derphttp.NewRegionClient(key.NewNode(), logger.Discard, netmon.NewStatic(),
		func() *tailcfg.DERPRegion { return regionOf(r) })
	c.MeshKey = tr.meshKey
	c.WatchConnectionChanges = true
	defer c.Close()
	waitUntil(t, timeout, "a mesh watcher on "+r.name, func() error {
		ctx, cancel := context.WithTimeout(t.Context(), msgTimeout)
		defer cancel()
		return c.Connect(ctx)
	})
	in := startInbox(c)
	if _, err := in.waitFor(timeout, func(m derp.ReceivedMessage) bool {
		pp, ok := m.(derp.PeerPresentMessage)
		return ok && pp.Key == k
	}); err != nil {
		t.Fatalf("tailscaled %s never homed on relay %s: %v", k.ShortString(), r.name, err)
	}
}

// totals is every stream's byte count at the sink.
func (tr *tailnetRegion) totals() []int64 {
	var out []int64
	for _, st := range tr.streams {
		out = append(out, st.rec.total())
	}
	return out
}

// awaitResumed waits until every stream is streamResumeBytes past bases.
func (tr *tailnetRegion) awaitResumed(t *testing.T, bases []int64, what string) {
	t.Helper()
	waitUntil(t, streamResumeTimeout, what, func() error {
		for i, st := range tr.streams {
			if got := st.rec.total(); got < bases[i]+streamResumeBytes {
				return fmt.Errorf("stream %s at %d bytes, want %d", st.name, got, bases[i]+streamResumeBytes)
			}
		}
		return nil
	})
}

// fault kills (SIGKILL) or stops (SIGTERM) relay r and measures how long
// the streams take to flow again, counted from the signal.
func (tr *tailnetRegion) fault(t *testing.T, how string, r *regionNode) tailnetFault {
	t.Helper()
	res := tailnetFault{fault: how + " " + r.name}
	bases := tr.totals()
	t0 := time.Now()
	switch how {
	case "kill":
		r.kill(t)
	case "stop":
		r.terminate(t)
		res.exit = time.Since(t0)
	}
	tr.awaitResumed(t, bases, "streams flowing after "+res.fault)
	for _, st := range tr.streams {
		d := longestPause(st.rec.marksSince(t0), t0)
		res.pause = max(res.pause, d)
		res.streams = append(res.streams, fmt.Sprintf("%s %v", st.name, d.Round(time.Millisecond)))
	}
	return res
}

// awaitMeshed checks that relay r, just restarted, forwards to and from
// each other relay: fresh clients on both sides deliver both ways.
func (tr *tailnetRegion) awaitMeshed(t *testing.T, r *regionNode) {
	t.Helper()
	t.Run("meshed_again_"+r.name, func(t *testing.T) {
		h := connectRoamingPeer(t, regionOf(r))
		for _, o := range tr.relays {
			if o != r {
				p := connectRoamingPeer(t, regionOf(o))
				firstDelivery(t, h, p)
				firstDelivery(t, p, h)
			}
		}
	})
}

// firstDelivery sends numbered packets from a to b every 20 ms until one
// arrives: deliver's way, at a pace fine enough to time a mesh healing.
func firstDelivery(t *testing.T, a, b *peer) {
	t.Helper()
	deadline := time.Now().Add(meshTimeout)
	tag := fmt.Sprintf("heal %s>%s#", a.pub.ShortString(), b.pub.ShortString())
	for i := 0; time.Now().Before(deadline); i++ {
		a.c.Send(b.pub, []byte(tag+strconv.Itoa(i))) // a failed send is retried like a lost one
		if _, err := b.in.waitFor(20*time.Millisecond, func(m derp.ReceivedMessage) bool {
			p, ok := m.(derp.ReceivedPacket)
			return ok && p.Source == a.pub && bytes.HasPrefix(p.Data, []byte(tag))
		}); err == nil {
			return
		}
	}
	t.Fatalf("no packet %s → %s within %v of the restart", a.pub.ShortString(), b.pub.ShortString(), meshTimeout)
}

// terminate stops the node as systemd does (SIGTERM) and waits for it to
// exit.
func (n *regionNode) terminate(t *testing.T) {
	t.Helper()
	if err := n.proc.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("stop node %s: %v", n.name, err)
	}
	select {
	case <-n.exited:
	case <-time.After(15 * time.Second):
		t.Fatalf("node %s still running 15 s after SIGTERM", n.name)
	}
}

// logTailnetFaults logs each fault's figures for every server side by side.
func logTailnetFaults(t *testing.T, results map[serverKind][]tailnetFault) {
	kinds := selectedKinds()
	var b strings.Builder
	b.WriteString("longest stream pause after the fault; time until the restarted node was meshed again\n| fault |")
	for _, k := range kinds {
		fmt.Fprintf(&b, " %s pause | %s meshed again |", k, k)
	}
	rows := 0
	for _, k := range kinds {
		rows = max(rows, len(results[k]))
	}
	for i := range rows {
		label := ""
		for _, k := range kinds {
			if i < len(results[k]) {
				label = results[k][i].fault
			}
		}
		fmt.Fprintf(&b, "\n| %s |", label)
		for _, k := range kinds {
			if i >= len(results[k]) {
				b.WriteString(" – | – |")
				continue
			}
			r := results[k][i]
			heal := "not waited for"
			if r.heal > 0 {
				heal = r.heal.Round(10 * time.Millisecond).String()
			}
			fmt.Fprintf(&b, " %v | %s |", r.pause.Round(time.Millisecond), heal)
		}
	}
	t.Log(b.String())
}
