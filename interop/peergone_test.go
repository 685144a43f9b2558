package interop

import (
	"testing"

	"tailscale.com/derp"
	"tailscale.com/types/key"
)

// discoMagic starts every disco packet; a packet of at least
// len(discoMagic)+32+24 bytes starting with it is disco to a DERP server.
const discoMagic = "TS💬"

func discoPacket() []byte {
	p := []byte(discoMagic)
	sender := key.NewNode().Public()
	p = sender.AppendTo(p)
	p = append(p, make([]byte, 24+16)...) // nonce and a box tag's worth
	return p
}

// testPeerGoneDisconnected: once B has received from A, A's departure is
// announced to B as PeerGone(A, Disconnected).
func testPeerGoneDisconnected(t *testing.T, k serverKind) {
	s := startServer(t, k)
	a, b := connectPeer(t, s), connectPeer(t, s)
	a.send(t, b.pub, []byte("hello"))
	b.expectPacket(t, a.pub, []byte("hello"))

	if err := a.close(); err != nil {
		t.Fatal(err)
	}
	m, err := b.in.next(msgTimeout)
	if err != nil {
		t.Fatalf("waiting for PeerGone: %v", err)
	}
	want := derp.PeerGoneMessage{Peer: a.pub, Reason: derp.PeerGoneReasonDisconnected}
	if got, ok := m.(derp.PeerGoneMessage); !ok || got != want {
		t.Fatalf("got %T %+v, want %+v", m, m, want)
	}
}

// testPeerGoneNotHere: a disco packet to an unknown key earns the sender
// PeerGone(key, NotHere); a non-disco packet to an unknown key earns
// nothing. The non-disco packet goes first: PeerGone frames for one
// connection are written in the order they were caused, so if it had earned
// one, that frame would arrive before the disco packet's.
func testPeerGoneNotHere(t *testing.T, k serverKind) {
	s := startServer(t, k)
	a := connectPeer(t, s)
	plainDst, discoDst := key.NewNode().Public(), key.NewNode().Public()
	disco := discoPacket()
	if len(disco) < 62 {
		t.Fatalf("disco test packet is %d bytes; servers ignore disco shorter than 62", len(disco))
	}

	a.send(t, plainDst, make([]byte, 100))
	a.send(t, discoDst, disco)
	m, err := a.in.next(msgTimeout)
	if err != nil {
		t.Fatalf("waiting for PeerGone: %v", err)
	}
	want := derp.PeerGoneMessage{Peer: discoDst, Reason: derp.PeerGoneReasonNotHere}
	if got, ok := m.(derp.PeerGoneMessage); !ok || got != want {
		t.Fatalf("got %T %+v, want %+v (non-disco destination %v must not get one)", m, m, want, plainDst.ShortString())
	}
}
