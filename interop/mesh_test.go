package interop

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"tailscale.com/derp"
	"tailscale.com/types/key"
)

// meshTimeout bounds a delivery that has to wait for the mesh to learn
// where a peer is. After a node restart relayctl's backoff (100 ms doubling
// to 5 s, ±50 % jitter) can hold a reconnect for up to 7.5 s.
const meshTimeout = 15 * time.Second

// TestRegionThreeNodes: three relayctl nodes meshed over HTTPS form one
// region. Tailscale region clients spread over them reach each other;
// when a node is SIGKILLed its clients fail over to the next node of
// their DERP map and deliver again; when it comes back on the same ports
// and key the mesh heals, and `relayctl prune --not-ideal` sends a
// failed-over client home.
func TestRegionThreeNodes(t *testing.T) {
	if !serverSelected(relayctlServer) {
		t.Skip("relayctl not selected by INTEROP_SERVERS")
	}
	t.Parallel()
	meshKey := writeMeshKey(t)
	nodes := make([]*regionNode, 3)
	for i := range nodes {
		nodes[i] = newRegionNode(t, relayctlServer, fmt.Sprintf("900%c", 'a'+i), "127.0.0.1")
	}
	roots := writeCertBundle(t, nodes...)
	var meshWith []string
	for _, n := range nodes {
		meshWith = append(meshWith, n.meshURL()) // every node gets the whole list, itself included
	}
	for _, n := range nodes {
		n.meshKeyFile, n.meshWith = meshKey, strings.Join(meshWith, ",")
		n.env = []string{"SSL_CERT_FILE=" + roots}
	}
	for _, n := range nodes {
		n.start(t) // the first ones' mesh connections retry until the others are up
	}
	a, b, c := nodes[0], nodes[1], nodes[2]

	// Each client's map lists its home node first. a1 and a2 share home a
	// but fall back in different orders, so a's failure spreads them.
	a1 := connectRoamingPeer(t, regionOf(a, b, c))
	a2 := connectRoamingPeer(t, regionOf(a, c, b))
	b1 := connectRoamingPeer(t, regionOf(b, c, a))
	c1 := connectRoamingPeer(t, regionOf(c, a, b))
	a.serverKey, b.serverKey, c.serverKey = a1.c.ServerPublicKey(), b1.c.ServerPublicKey(), c1.c.ServerPublicKey()
	if a2.c.ServerPublicKey() != a.serverKey || a.serverKey == b.serverKey || b.serverKey == c.serverKey || a.serverKey == c.serverKey {
		t.Fatalf("clients did not land on three distinct home nodes: %v %v %v %v",
			a1.c.ServerPublicKey().ShortString(), a2.c.ServerPublicKey().ShortString(),
			b.serverKey.ShortString(), c.serverKey.ShortString())
	}
	t.Run("spread", func(t *testing.T) {
		all := []*peer{a1, a2, b1, c1}
		for i, p := range all {
			for _, q := range all[i+1:] {
				deliverBothWays(t, p, q, meshTimeout)
			}
		}
	})
	if t.Failed() {
		return
	}

	a.kill(t)
	t.Run("failover", func(t *testing.T) {
		waitServerKey(t, a1, b.serverKey, meshTimeout, "a1 failing over to b (its map's next node)")
		waitServerKey(t, a2, c.serverKey, meshTimeout, "a2 failing over to c (its map's next node)")
		deliverBothWays(t, a1, a2, meshTimeout) // now across b and c
		deliverBothWays(t, a1, c1, meshTimeout)
		deliverBothWays(t, a2, b1, meshTimeout)
		deliverBothWays(t, b1, c1, meshTimeout)
	})
	if t.Failed() {
		return
	}

	a.start(t)
	t.Run("heal", func(t *testing.T) {
		for _, n := range []*regionNode{b, c} {
			waitMetric(t, n, fmt.Sprintf(`relayctl_mesh_peer_connected{peer=%q} 1`, a.meshURL()), meshTimeout)
		}
		for _, peer := range []*regionNode{b, c} {
			waitMetric(t, a, fmt.Sprintf(`relayctl_mesh_peer_connected{peer=%q} 1`, peer.meshURL()), meshTimeout)
		}
		h := connectRoamingPeer(t, regionOf(a, b, c))
		if got := h.c.ServerPublicKey(); got != a.serverKey {
			t.Fatalf("the restarted node has key %s, want its old key %s (same --key-file)", got.ShortString(), a.serverKey.ShortString())
		}
		for _, p := range []*peer{a1, a2, b1, c1} {
			deliverBothWays(t, h, p, meshTimeout)
		}
	})
	if t.Failed() {
		return
	}

	// a1 is on b but would rather be on a: prune sends it home.
	t.Run("prune_not_ideal_rebalances", func(t *testing.T) {
		rep := runPruneJSON(t, b, meshKey, "--not-ideal")
		actions := map[key.NodePublic]string{}
		for _, p := range rep.Peers {
			actions[p.Key] = p.Action
		}
		if actions[a1.pub] != "closed" || actions[b1.pub] != "keep" {
			t.Fatalf("prune --not-ideal on b: a1 %q, b1 %q; want closed and keep\n%+v", actions[a1.pub], actions[b1.pub], rep)
		}
		for _, p := range rep.Peers {
			if p.Key != a1.pub && p.Action != "keep" {
				t.Errorf("prune --not-ideal on b also chose %s (%v): %q", p.Key.ShortString(), p.Flags, p.Action)
			}
		}
		waitServerKey(t, a1, a.serverKey, meshTimeout, "a1 reconnecting to its home node a")
		deliverBothWays(t, a1, b1, meshTimeout)
		deliverBothWays(t, a1, a2, meshTimeout)
	})
}

// waitMetric waits until the node's /debug/varz has a line equal to want.
func waitMetric(t *testing.T, n *regionNode, want string, timeout time.Duration) {
	t.Helper()
	waitUntil(t, timeout, fmt.Sprintf("node %s reporting %s", n.name, want), func() error {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel()
		body, err := n.varz(ctx)
		if err != nil {
			return err
		}
		for line := range strings.Lines(body) {
			if strings.TrimSpace(line) == want {
				return nil
			}
		}
		return fmt.Errorf("no such line")
	})
}

// TestRegionMixed: a relayctl node and a derper node share one region and
// one mesh key. derper meshes only over HTTPS and verifies against the
// system roots, so both processes get both self-signed certificates in
// SSL_CERT_FILE; both --mesh-with lists name both nodes, self included.
// Packets go both ways, and PeerGone crosses the mesh both ways.
func TestRegionMixed(t *testing.T) {
	if !serverSelected(relayctlServer) || !serverSelected(derperServer) {
		t.Skip("needs both servers (INTEROP_SERVERS)")
	}
	t.Parallel()
	meshKey := writeMeshKey(t)
	r := newRegionNode(t, relayctlServer, "900r", "localhost")
	d := newRegionNode(t, derperServer, "900d", "localhost")
	roots := writeCertBundle(t, r, d)
	r.meshWith = r.meshURL() + "," + d.meshURL()
	d.meshWith = r.meshHostPort() + "," + d.meshHostPort()
	for _, n := range []*regionNode{r, d} {
		n.meshKeyFile = meshKey
		n.env = []string{"SSL_CERT_FILE=" + roots}
	}
	// relayctl first: derper dials its mesh peers once at start and then
	// only every 5 s.
	r.start(t)
	d.start(t)

	onR := connectRoamingPeer(t, regionOf(r))
	onD := connectRoamingPeer(t, regionOf(d))
	onR2 := connectRoamingPeer(t, regionOf(r))
	onD2 := connectRoamingPeer(t, regionOf(d))
	if onR.c.ServerPublicKey() == onD.c.ServerPublicKey() {
		t.Fatal("both clients landed on the same server")
	}

	t.Run("both_ways", func(t *testing.T) {
		deliverBothWays(t, onR, onD, meshTimeout)
		deliverBothWays(t, onR2, onD2, meshTimeout)
		big := make([]byte, 64<<10)
		for i := range big {
			big[i] = byte(i * 7)
		}
		onD.send(t, onR.pub, big)
		waitPacket(t, onR, onD.pub, big)
		onR.send(t, onD.pub, big)
		waitPacket(t, onD, onR.pub, big)
	})
	if t.Failed() {
		return
	}
	t.Run("mesh_metrics", func(t *testing.T) {
		waitMetric(t, r, fmt.Sprintf(`relayctl_mesh_peer_connected{peer=%q} 1`, d.meshURL()), msgTimeout)
		body, err := r.varz(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(body, fmt.Sprintf(`peer=%q`, r.meshURL())) {
			t.Errorf("relayctl keeps mesh series for its own --mesh-with entry %s", r.meshURL())
		}
	})
	// onD received from onR (across the mesh); onR leaving must reach onD
	// as PeerGone through derper, which learns it from relayctl's watcher
	// stream. And the same from derper's side to relayctl's client.
	t.Run("peer_gone_relayctl_to_derper", func(t *testing.T) {
		if err := onR.close(); err != nil {
			t.Fatal(err)
		}
		expectPeerGone(t, onD, onR.pub)
	})
	t.Run("peer_gone_derper_to_relayctl", func(t *testing.T) {
		if err := onD2.close(); err != nil {
			t.Fatal(err)
		}
		expectPeerGone(t, onR2, onD2.pub)
	})
}

// waitPacket waits for a packet from src with exactly want, skipping other
// messages (late copies from deliver's retries).
func waitPacket(t *testing.T, p *peer, src key.NodePublic, want []byte) {
	t.Helper()
	m, err := p.in.waitFor(msgTimeout, func(m derp.ReceivedMessage) bool {
		rp, ok := m.(derp.ReceivedPacket)
		return ok && rp.Source == src && len(rp.Data) == len(want)
	})
	if err != nil {
		t.Fatalf("peer %s: waiting for %d bytes from %s: %v", p.pub.ShortString(), len(want), src.ShortString(), err)
	}
	checkPacket(t, m, src, want)
}

func expectPeerGone(t *testing.T, p *peer, gone key.NodePublic) {
	t.Helper()
	m, err := p.in.waitFor(msgTimeout, func(m derp.ReceivedMessage) bool {
		_, ok := m.(derp.PeerGoneMessage)
		return ok
	})
	if err != nil {
		t.Fatalf("peer %s: waiting for PeerGone(%s): %v", p.pub.ShortString(), gone.ShortString(), err)
	}
	want := derp.PeerGoneMessage{Peer: gone, Reason: derp.PeerGoneReasonDisconnected}
	if got := m.(derp.PeerGoneMessage); got != want {
		t.Fatalf("peer %s: got %+v, want %+v", p.pub.ShortString(), got, want)
	}
}

// pruneJSON is `relayctl prune --json` output, as far as the tests read it.
type pruneJSON struct {
	Server string `json:"server"`
	Peers  []struct {
		Key    key.NodePublic `json:"key"`
		Addr   string         `json:"addr"`
		Flags  []string       `json:"flags"`
		Action string         `json:"action"`
	} `json:"peers"`
	Missing []string `json:"missing"`
}

// runPruneJSON runs `relayctl prune --json` against n (trusting its
// certificate by --cert-name, as a DERP map does) and requires exit 0.
func runPruneJSON(t *testing.T, n *regionNode, meshKeyFile string, args ...string) pruneJSON {
	t.Helper()
	code, stdout, stderr := runPrune(t, n, meshKeyFile, append(args, "--json")...)
	if code != 0 {
		t.Fatalf("relayctl prune %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, stdout, stderr)
	}
	var rep pruneJSON
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("prune --json output: %v\n%s", err, stdout)
	}
	return rep
}

// TestRegionWrongMeshKey: a relayctl node and a derper node list each
// other but hold different mesh keys. The relayctl node backs off as for
// any failure and says once that derper rejected its mesh key; when derper
// in turn asks to watch it, it names the mesh key once.
func TestRegionWrongMeshKey(t *testing.T) {
	if !serverSelected(relayctlServer) || !serverSelected(derperServer) {
		t.Skip("needs both servers (INTEROP_SERVERS)")
	}
	t.Parallel()
	r := newRegionNode(t, relayctlServer, "900r", "localhost")
	d := newRegionNode(t, derperServer, "900d", "localhost")
	roots := writeCertBundle(t, r, d)
	r.meshWith = r.meshURL() + "," + d.meshURL()
	d.meshWith = r.meshHostPort() + "," + d.meshHostPort()
	r.meshKeyFile, d.meshKeyFile = writeMeshKey(t), writeMeshKey(t)
	for _, n := range []*regionNode{r, d} {
		n.env = []string{"SSL_CERT_FILE=" + roots}
	}
	// relayctl first, so derper's first attempt (at its start) reaches it.
	r.start(t)
	d.start(t)

	// Four refused attempts take at least 50+100+200 ms with the backoff
	// growing; at derper's pace of one a second or faster they never end.
	waitMetric(t, r, fmt.Sprintf(`relayctl_mesh_reconnects{peer=%q} 4`, d.meshURL()), 15*time.Second)
	const rejected = `"msg":"mesh peer rejected our mesh key: check --mesh-psk-file on both nodes"`
	const refused = `"msg":"closing connection: mesh request without our mesh key; if this is a mesh peer, check --mesh-psk-file on both nodes"`
	waitUntil(t, 10*time.Second, "relayctl naming the mesh key of derper's watch request", func() error {
		if !strings.Contains(r.logs.String(), refused) {
			return errors.New("not logged")
		}
		return nil
	})
	logs := r.logs.String()
	if n := strings.Count(logs, rejected); n != 1 {
		t.Errorf("relayctl said %d times that derper rejected its mesh key, want once", n)
	}
	if n := strings.Count(logs, refused); n != 1 {
		t.Errorf("relayctl logged derper's refused watch request %d times, want once", n)
	}
	if n := strings.Count(logs, `"msg":"mesh peer connected"`); n != 0 {
		t.Errorf("relayctl logged %d mesh connections that never worked", n)
	}
}
