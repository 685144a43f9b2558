package interop

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"tailscale.com/derp"
	"tailscale.com/types/key"
)

// testDuplicateKey: with two connections for one key, packets go to the
// newest; once the older one sends any frame it becomes the active one.
// Each connection's packets arrive in order, so checking that each side
// got exactly its own packets, in sequence, also shows the other side's
// packets never reached it.
func testDuplicateKey(t *testing.T, k serverKind) {
	sender, priv, conns := startWithSharedKey(t, k, 2)
	older, newer := conns[0], conns[1]

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

// startWithSharedKey starts a server of kind k and connects a sender and
// then n connections of one new key, in order.
func startWithSharedKey(t *testing.T, k serverKind, n int) (sender *peer, priv key.NodePrivate, conns []*peer) {
	t.Helper()
	s := startServer(t, k)
	sender = connectPeer(t, s)
	priv = key.NewNode()
	for range n {
		conns = append(conns, connectPeerAs(t, s, priv))
	}
	return sender, priv, conns
}

func ping(t *testing.T, p *peer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), msgTimeout)
	defer cancel()
	if err := p.c.Ping(ctx); err != nil {
		t.Fatalf("ping from %s: %v", p.pub.ShortString(), err)
	}
}

// testDuplicateKeyClosedNotActive: connections A, B and C of one key send
// in the order A, B, A, then A closes. Every later packet for the key must
// reach a live connection (B or C), never the closed A.
func testDuplicateKeyClosedNotActive(t *testing.T, k serverKind) {
	sender, priv, conns := startWithSharedKey(t, k, 3)
	a, b, c := conns[0], conns[1], conns[2]
	ping(t, a)
	ping(t, b)
	ping(t, a)
	if err := a.close(); err != nil {
		t.Fatal(err)
	}
	// The server notices A's close at a moment we cannot see: probe until
	// one packet reaches B or C.
	deadline := time.Now().Add(msgTimeout)
	for i := 0; ; i++ {
		sender.send(t, priv.Public(), fmt.Appendf(nil, "probe %d", i))
		if _, err := packetToEither(b, c, 100*time.Millisecond); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no packet for the key reached its live connections within %v of A closing", msgTimeout)
		}
	}
	for i := range 3 {
		sender.send(t, priv.Public(), fmt.Appendf(nil, "after %d", i))
	}
	for got := 0; got < 3; {
		p, err := packetToEither(b, c, msgTimeout)
		if err != nil {
			t.Fatalf("%d of 3 packets reached B or C: %v", got, err)
		}
		if bytes.HasPrefix(p.Data, []byte("after ")) {
			got++
		}
	}
}

// packetToEither returns the next packet that x or y receives.
func packetToEither(x, y *peer, timeout time.Duration) (derp.ReceivedPacket, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		var m derp.ReceivedMessage
		select {
		case m = <-x.in.msgs:
		case m = <-y.in.msgs:
		case <-deadline.C:
			return derp.ReceivedPacket{}, fmt.Errorf("nothing within %v", timeout)
		}
		if p, ok := m.(derp.ReceivedPacket); ok {
			return p, nil
		}
	}
}
