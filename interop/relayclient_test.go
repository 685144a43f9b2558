package interop

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"go4.org/mem"
	"tailscale.com/derp"
	tskey "tailscale.com/types/key"

	relayclient "github.com/relayctl/relayctl/relay/client"
	"github.com/relayctl/relayctl/relay/key"
	"github.com/relayctl/relayctl/relay/wire"
)

// TestRelayClient runs relayctl's own DERP client (relay/client) against
// both servers, over both transports: the checks that probe, prune and
// bench rely on. Its cases live here rather than in interopCases because
// they test the client as much as the server.
func TestRelayClient(t *testing.T) {
	cases := []struct {
		name string
		run  func(t *testing.T, s *server, ws bool)
	}{
		{"handshake", testRelayClientHandshake},
		{"exchange_with_tailscale_client", testRelayClientWithTailscale},
		{"exchange_between_relay_clients", testRelayClientPair},
		{"ping", testRelayClientPing},
		{"peer_gone", testRelayClientPeerGone},
	}
	for _, k := range selectedKinds() {
		t.Run(string(k), func(t *testing.T) {
			t.Parallel()
			for _, transport := range []string{"upgrade", "websocket"} {
				for _, tc := range cases {
					t.Run(transport+"/"+tc.name, func(t *testing.T) {
						t.Parallel()
						tc.run(t, startServer(t, k), transport == "websocket")
					})
				}
			}
		})
	}
	for _, k := range selectedKinds() {
		t.Run(string(k)+"/refused_upgrade", func(t *testing.T) {
			t.Parallel()
			s := startServer(t, k)
			// "/derp/" is not the DERP endpoint on either server.
			c, err := relayclient.Dial(t.Context(), s.url("/derp/"), key.NewNode(), relayclient.Options{})
			if err == nil {
				c.Close()
				t.Fatal("Dial of /derp/ succeeded")
			}
			if want := "derp " + s.url("/derp/") + ": GET failed: status "; !strings.HasPrefix(err.Error(), want) {
				t.Errorf("error %q, want prefix %q", err, want)
			}
		})
	}
}

// rcDial connects one of our clients and closes it at cleanup.
func rcDial(t *testing.T, s *server, ws bool, opts relayclient.Options) *relayclient.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), msgTimeout)
	defer cancel()
	opts.WebSocket = ws
	opts.RecvTimeout = msgTimeout
	c, err := relayclient.Dial(ctx, s.url("/derp"), key.NewNode(), opts)
	if err != nil {
		t.Fatalf("relay client dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// rcNext returns the next message that is not a KeepAlive, with packets
// copied out of the client's buffer.
func rcNext(t *testing.T, c *relayclient.Client) relayclient.Message {
	t.Helper()
	for {
		m, err := c.Recv()
		if err != nil {
			t.Fatalf("relay client %s: %v", c.PublicKey().ShortString(), err)
		}
		switch m := m.(type) {
		case relayclient.KeepAlive:
			continue
		case *relayclient.ReceivedPacket:
			return &relayclient.ReceivedPacket{Source: m.Source, Data: bytes.Clone(m.Data)}
		}
		return m
	}
}

func rcExpectPacket(t *testing.T, c *relayclient.Client, src key.NodePublic, want []byte) {
	t.Helper()
	m := rcNext(t, c)
	p, ok := m.(*relayclient.ReceivedPacket)
	if !ok || p.Source != src || !bytes.Equal(p.Data, want) {
		t.Fatalf("got %#v, want a %d-byte packet from %s", m, len(want), src.ShortString())
	}
}

func toTailscaleKey(k key.NodePublic) tskey.NodePublic {
	raw := k.Raw32()
	return tskey.NodePublicFromRaw32(mem.B(raw[:]))
}

func fromTailscaleKey(k tskey.NodePublic) key.NodePublic {
	raw := k.Raw32()
	return key.NodePublicFromRaw32(raw[:])
}

// testRelayClientHandshake: the key from ServerKey is the one the server
// announces in its 101 response, and ServerInfo opens to version 2.
func testRelayClientHandshake(t *testing.T, s *server, ws bool) {
	c := rcDial(t, s, ws, relayclient.Options{CanAckPings: true, AppName: "relayctl-interop"})
	raw := dialRaw(t, s)
	raw.upgrade(t)
	if got, want := c.ServerPublicKey().UntypedHex(), raw.upgradeKeyHex(); got != want {
		t.Errorf("ServerKey %s, Derp-Public-Key %s", got, want)
	}
	if got := c.ServerInfo(); got != (wire.ServerInfo{Version: 2}) {
		t.Errorf("ServerInfo = %+v, want version 2 only", got)
	}
	if err := c.NotePreferred(true); err != nil {
		t.Fatal(err)
	}
	// The server must still be serving this connection after NotePreferred.
	if err := c.SendPing([8]byte([]byte("notepref"))); err != nil {
		t.Fatal(err)
	}
	if m := rcNext(t, c); m != (relayclient.Pong{Data: [8]byte([]byte("notepref"))}) {
		t.Errorf("got %#v, want the Pong", m)
	}
}

// testRelayClientWithTailscale: packets cross between our client and
// Tailscale's derphttp client in both directions, at the boundary sizes.
func testRelayClientWithTailscale(t *testing.T, s *server, ws bool) {
	c := rcDial(t, s, ws, relayclient.Options{})
	p := connectPeer(t, s)
	pPub := fromTailscaleKey(p.pub)
	for _, size := range []int{0, 1200, derp.MaxPacketSize} {
		pkt := bytes.Repeat([]byte{byte(size)}, size)
		if err := c.Send(pPub, pkt); err != nil {
			t.Fatal(err)
		}
		p.expectPacket(t, toTailscaleKey(c.PublicKey()), pkt)
		p.send(t, toTailscaleKey(c.PublicKey()), pkt)
		rcExpectPacket(t, c, pPub, pkt)
	}
}

// testRelayClientPair: two of our clients exchange packets, singly and
// batched, in order.
func testRelayClientPair(t *testing.T, s *server, ws bool) {
	a := rcDial(t, s, ws, relayclient.Options{})
	b := rcDial(t, s, ws, relayclient.Options{})
	if err := a.Send(b.PublicKey(), []byte("hello")); err != nil {
		t.Fatal(err)
	}
	rcExpectPacket(t, b, a.PublicKey(), []byte("hello"))
	batch := []relayclient.Packet{
		{Dst: a.PublicKey(), Data: []byte("one")},
		{Dst: a.PublicKey(), Data: bytes.Repeat([]byte{2}, derp.MaxPacketSize)},
		{Dst: a.PublicKey(), Data: []byte("three")},
	}
	if err := b.SendBatch(batch); err != nil {
		t.Fatal(err)
	}
	for _, p := range batch {
		rcExpectPacket(t, a, b.PublicKey(), p.Data)
	}
}

func testRelayClientPing(t *testing.T, s *server, ws bool) {
	c := rcDial(t, s, ws, relayclient.Options{})
	for i := range 3 {
		data := [8]byte{'p', 'i', 'n', 'g', 0, 0, 0, byte(i)}
		if err := c.SendPing(data); err != nil {
			t.Fatal(err)
		}
		if m := rcNext(t, c); m != (relayclient.Pong{Data: data}) {
			t.Fatalf("got %#v, want Pong %q", m, data)
		}
	}
}

// testRelayClientPeerGone: a disco packet to an unknown key earns
// PeerGone(NotHere); a sender's departure earns PeerGone(Disconnected).
func testRelayClientPeerGone(t *testing.T, s *server, ws bool) {
	a := rcDial(t, s, ws, relayclient.Options{})
	b := rcDial(t, s, ws, relayclient.Options{})

	stranger := key.NewNode().Public()
	if err := b.Send(stranger, discoPacket()); err != nil {
		t.Fatal(err)
	}
	if m, want := rcNext(t, b), (relayclient.PeerGone{Key: stranger, Reason: wire.PeerGoneNotHere}); m != want {
		t.Fatalf("after disco to a stranger got %#v, want %#v", m, want)
	}

	if err := a.Send(b.PublicKey(), []byte("hello")); err != nil {
		t.Fatal(err)
	}
	rcExpectPacket(t, b, a.PublicKey(), []byte("hello"))
	a.Close()
	if m, want := rcNext(t, b), (relayclient.PeerGone{Key: a.PublicKey(), Reason: wire.PeerGoneDisconnected}); m != want {
		t.Fatalf("after A closed got %#v, want %#v", m, want)
	}
}
