package server_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/relayctl/relayctl/relay/client"
	"github.com/relayctl/relayctl/relay/key"
	"github.com/relayctl/relayctl/relay/server"
	"github.com/relayctl/relayctl/relay/wire"
)

func TestDeliveryInOrderAllSizes(t *testing.T) {
	r := newTestRelay(t, server.Options{})
	a := r.connect(client.Options{})
	b := r.connect(client.Options{})
	sizes := []int{0, 1, 1200, wire.MaxPacketSize, 62, 16 << 10, 300}
	const rounds = 20
	// Sends and receives interleave in batches below the queue depth, so
	// nothing is dropped and order is exact.
	for round := range rounds {
		for i, n := range sizes {
			pkt := bytes.Repeat([]byte{byte(round*len(sizes) + i)}, n)
			if err := a.Send(b.PublicKey(), pkt); err != nil {
				t.Fatal(err)
			}
		}
		for i, n := range sizes {
			src, got := recvPacket(t, b)
			if src != a.PublicKey() {
				t.Fatalf("source %v, want %v", src, a.PublicKey())
			}
			want := bytes.Repeat([]byte{byte(round*len(sizes) + i)}, n)
			if !bytes.Equal(got, want) {
				t.Fatalf("round %d packet %d: got %d bytes, want %d (byte %d)", round, i, len(got), n, want)
			}
		}
	}
	// A packet counts as sent when the write that carried it returns,
	// which can be just after the receiver has read it.
	want := fmt.Sprint(rounds * len(sizes))
	r.waitFor("derp_packets_sent = "+want, func() bool { return r.metric("derp_packets_sent") == want })
}

func TestOversizedSendPacketClosesOnlySender(t *testing.T) {
	r := newTestRelay(t, server.Options{})
	a := r.connect(client.Options{})
	b := r.connect(client.Options{})
	bad := r.connect(client.Options{})
	if err := bad.Send(b.PublicKey(), make([]byte, wire.MaxPacketSize+1)); err == nil {
		// Our client refuses to build such a frame; that is fine too. Use
		// a raw frame below instead.
		t.Log("client sent an oversized packet")
	}
	raw := r.dialRaw()
	hello := rawHandshake(t, r, raw, key.NewNode())
	_ = hello
	hdr := wire.AppendFrameHeader(nil, wire.FrameSendPacket, wire.KeyLen+wire.MaxPacketSize+1)
	raw.Write(hdr)
	expectRawClosed(t, raw)
	if err := a.Send(b.PublicKey(), []byte("still here")); err != nil {
		t.Fatal(err)
	}
	if _, got := recvPacket(t, b); string(got) != "still here" {
		t.Fatalf("got %q", got)
	}
}

func TestUnknownDestinationDisco(t *testing.T) {
	r := newTestRelay(t, server.Options{})
	a := r.connect(client.Options{})
	b := r.connect(client.Options{})
	nobody := key.NewNode().Public()

	// Non-disco to an unknown key: dropped silently.
	if err := a.Send(nobody, []byte("hello?")); err != nil {
		t.Fatal(err)
	}
	// Disco to an unknown key: PeerGone(NotHere) back to the sender.
	if err := a.Send(nobody, discoPacket()); err != nil {
		t.Fatal(err)
	}
	m := recvMessage(t, a)
	pg, ok := m.(client.PeerGone)
	if !ok || pg.Key != nobody || pg.Reason != wire.PeerGoneNotHere {
		t.Fatalf("got %T %+v, want PeerGone(NotHere) for %v", m, m, nobody)
	}
	// A real packet after that proves nothing else was queued for a first.
	if err := b.Send(a.PublicKey(), []byte("x")); err != nil {
		t.Fatal(err)
	}
	if src, _ := recvPacket(t, a); src != b.PublicKey() {
		t.Fatalf("unexpected source %v", src)
	}
	if got := r.metric(`derp_packets_dropped{reason="unknown_dest",kind="other"}`); got != "1" {
		t.Errorf("unknown_dest other drops = %q, want 1", got)
	}
	if got := r.metric(`derp_packets_dropped{reason="unknown_dest",kind="disco"}`); got != "1" {
		t.Errorf("unknown_dest disco drops = %q, want 1", got)
	}
}

func TestNotHereIsRateLimited(t *testing.T) {
	r := newTestRelay(t, server.Options{})
	a := r.connect(client.Options{})
	b := r.connect(client.Options{})
	nobody := key.NewNode().Public()
	for range 10 {
		if err := a.Send(nobody, discoPacket()); err != nil {
			t.Fatal(err)
		}
	}
	// A marker packet from b goes behind whatever PeerGone frames the
	// burst produced; count them until it arrives.
	r.waitFor("drops counted", func() bool {
		return r.metric(`derp_packets_dropped{reason="unknown_dest",kind="disco"}`) == "10"
	})
	if err := b.Send(a.PublicKey(), []byte("marker")); err != nil {
		t.Fatal(err)
	}
	gone := 0
	for {
		m := recvMessage(t, a)
		if _, ok := m.(*client.ReceivedPacket); ok {
			break
		}
		gone++
	}
	if gone != 3 {
		t.Fatalf("got %d PeerGone(NotHere) frames for a burst of 10, want the burst of 3", gone)
	}
}

func TestPeerGoneDisconnectedToReceivers(t *testing.T) {
	r := newTestRelay(t, server.Options{})
	a := r.connect(client.Options{})
	b := r.connect(client.Options{})
	c := r.connect(client.Options{}) // never received from a
	if err := a.Send(b.PublicKey(), []byte("hi")); err != nil {
		t.Fatal(err)
	}
	recvPacket(t, b)
	aKey := a.PublicKey()
	a.Close()
	m := recvMessage(t, b)
	if pg, ok := m.(client.PeerGone); !ok || pg.Key != aKey || pg.Reason != wire.PeerGoneDisconnected {
		t.Fatalf("got %T %+v, want PeerGone(Disconnected) for a", m, m)
	}
	// c hears nothing about a: its next message is b's packet.
	if err := b.Send(c.PublicKey(), []byte("to c")); err != nil {
		t.Fatal(err)
	}
	if src, _ := recvPacket(t, c); src != b.PublicKey() {
		t.Fatal("c got a message before b's packet")
	}
}

func TestPingPong(t *testing.T) {
	r := newTestRelay(t, server.Options{})
	a := r.connect(client.Options{})
	for i := range 20 {
		data := [8]byte{byte(i), 1, 2, 3, 4, 5, 6, 7}
		if err := a.SendPing(data); err != nil {
			t.Fatal(err)
		}
		m := recvMessage(t, a)
		if p, ok := m.(client.Pong); !ok || p.Data != data {
			t.Fatalf("got %T %+v, want Pong %v", m, m, data)
		}
	}
}

// discoPacket is a minimal message with the disco magic and header length.
func discoPacket() []byte {
	p := make([]byte, 62+16)
	copy(p, "TS\xf0\x9f\x92\xac")
	return p
}

// TestPeerGoneReachesReceiversNewConnection: a receiver that reconnected
// and got packets from a key on its new connection hears PeerGone when
// the key leaves, even though an older connection of the key (closed in
// the meantime) had sent to the receiver's old connection.
func TestPeerGoneReachesReceiversNewConnection(t *testing.T) {
	r := newTestRelay(t, server.Options{})
	src, dst := key.NewNode(), key.NewNode()
	a1 := r.connect(client.Options{}, src)
	k1 := r.connect(client.Options{}, dst)
	if err := a1.Send(dst.Public(), []byte("to k1")); err != nil {
		t.Fatal(err)
	}
	recvPacket(t, k1)
	a2 := r.connect(client.Options{}, src) // src now has two connections
	a1.Close()                             // a1's receivers are kept on src's set
	k1.Close()
	r.waitFor("a1 and k1 gone", func() bool { return r.srv.ConnCount() == 1 })

	k2 := r.connect(client.Options{RecvTimeout: 5 * time.Second}, dst)
	if err := a2.Send(dst.Public(), []byte("to k2")); err != nil {
		t.Fatal(err)
	}
	recvPacket(t, k2)
	a2.Close() // src's last connection
	m := recvMessage(t, k2)
	if pg, ok := m.(client.PeerGone); !ok || pg.Key != src.Public() || pg.Reason != wire.PeerGoneDisconnected {
		t.Fatalf("k2 got %T %+v, want PeerGone(Disconnected) for src", m, m)
	}
}

// TestClosedReceiverIsFreed: a sender keeps no closed receiver (its
// queues, its own records) reachable.
func TestClosedReceiverIsFreed(t *testing.T) {
	r := newTestRelay(t, server.Options{})
	a := r.connect(client.Options{})
	bKey := key.NewNode()
	b := r.connect(client.Options{}, bKey)
	if err := a.Send(bKey.Public(), []byte("hello")); err != nil {
		t.Fatal(err)
	}
	recvPacket(t, b)
	freed := r.srv.ActiveConnFreed(bKey.Public())
	b.Close()
	r.waitFor("b unregistered", func() bool { return r.srv.ConnCount() == 1 })
	r.waitFor("b's connection freed", freed)
}
