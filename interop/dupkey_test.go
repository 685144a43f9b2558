package interop

import (
	"context"
	"testing"

	"tailscale.com/types/key"
)

// testDuplicateKey: with two connections for one key, packets go to the
// newest; once the older one sends any frame it becomes the active one.
// Each connection's packets arrive in order, so checking that each side
// got exactly its own packets, in sequence, also shows the other side's
// packets never reached it.
func testDuplicateKey(t *testing.T, k serverKind) {
	s := startServer(t, k)
	sender := connectPeer(t, s)
	priv := key.NewNode()
	older := connectPeerAs(t, s, priv)
	newer := connectPeerAs(t, s, priv)

	p1, p2, p3 := []byte("p1 for the newer"), []byte("p2 for the older"), []byte("p3 for the newer")

	sender.send(t, priv.Public(), p1)
	newer.expectPacket(t, sender.pub, p1)

	// A Ping is a frame; its Pong proves the server has processed it.
	ping(t, older)
	sender.send(t, priv.Public(), p2)
	older.expectPacket(t, sender.pub, p2) // had p1 reached it, p1 would come first

	ping(t, newer)
	sender.send(t, priv.Public(), p3)
	newer.expectPacket(t, sender.pub, p3) // had p2 reached it, p2 would come first
}

func ping(t *testing.T, p *peer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), msgTimeout)
	defer cancel()
	if err := p.c.Ping(ctx); err != nil {
		t.Fatalf("ping from %s: %v", p.pub.ShortString(), err)
	}
}
