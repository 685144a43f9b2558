package server_test

import (
	"testing"

	"github.com/relayctl/relayctl/relay/client"
	"github.com/relayctl/relayctl/relay/key"
	"github.com/relayctl/relayctl/relay/server"
	"github.com/relayctl/relayctl/relay/wire"
)

func TestPrivilegedFramesNeedMeshKey(t *testing.T) {
	mesh := key.NewMesh()
	for _, tc := range []struct {
		name string
		do   func(c *client.Client, victim key.NodePublic) error
	}{
		{"watch_conns", func(c *client.Client, _ key.NodePublic) error { return c.WatchConns() }},
		{"close_peer", func(c *client.Client, v key.NodePublic) error { return c.ClosePeer(v) }},
		{"forward_packet", func(c *client.Client, v key.NodePublic) error {
			return c.ForwardPacket(key.NewNode().Public(), v, []byte("x"))
		}},
	} {
		for _, wrongKey := range []bool{false, true} {
			name := tc.name + "/no_key"
			opts := client.Options{}
			if wrongKey {
				name = tc.name + "/wrong_key"
				opts.MeshKey = key.NewMesh()
			}
			t.Run(name, func(t *testing.T) {
				r := newTestRelay(t, server.Options{MeshKey: mesh})
				victim := r.connect(client.Options{})
				c := r.connect(opts)
				if err := tc.do(c, victim.PublicKey()); err != nil {
					t.Fatal(err)
				}
				expectClosed(t, c)
				// The victim is untouched and still reachable.
				other := r.connect(client.Options{})
				if err := other.Send(victim.PublicKey(), []byte("ok")); err != nil {
					t.Fatal(err)
				}
				if _, got := recvPacket(t, victim); string(got) != "ok" {
					t.Fatalf("victim got %q", got)
				}
			})
		}
	}
}

func TestWatchConnsClosePeerForward(t *testing.T) {
	mesh := key.NewMesh()
	r := newTestRelay(t, server.Options{MeshKey: mesh})
	regular := r.connect(client.Options{})
	prober := r.connect(client.Options{IsProber: true})
	watcher := r.connect(client.Options{MeshKey: mesh})
	if err := watcher.WatchConns(); err != nil {
		t.Fatal(err)
	}
	want := map[key.NodePublic]wire.PeerPresentFlags{
		regular.PublicKey(): wire.PeerPresentIsRegular,
		prober.PublicKey():  wire.PeerPresentIsProber,
		watcher.PublicKey(): wire.PeerPresentIsMeshPeer,
	}
	for n := len(want); n > 0; n-- {
		m := recvMessage(t, watcher)
		pp, ok := m.(client.PeerPresent)
		if !ok {
			t.Fatalf("got %T, want PeerPresent", m)
		}
		if f, ok := want[pp.Key]; !ok || f != pp.Flags {
			t.Fatalf("PeerPresent %v flags %#x, want %#x", pp.Key, pp.Flags, f)
		}
		if !pp.Addr.Addr().Is4() || !pp.Addr.Addr().IsLoopback() {
			t.Fatalf("PeerPresent address %v, want 127.0.0.1:port", pp.Addr)
		}
		delete(want, pp.Key)
	}

	// A new connection is announced.
	late := r.connect(client.Options{})
	if m := recvMessage(t, watcher); m.(client.PeerPresent).Key != late.PublicKey() {
		t.Fatalf("got %+v, want PeerPresent for the new client", m)
	}

	// ForwardPacket delivers with the given source.
	src := key.NewNode().Public()
	if err := watcher.ForwardPacket(src, regular.PublicKey(), []byte("fwd")); err != nil {
		t.Fatal(err)
	}
	if s, got := recvPacket(t, regular); s != src || string(got) != "fwd" {
		t.Fatalf("forwarded packet from %v %q", s, got)
	}

	// ClosePeer disconnects the target; the watcher hears PeerGone.
	if err := watcher.ClosePeer(late.PublicKey()); err != nil {
		t.Fatal(err)
	}
	expectClosed(t, late)
	m := recvMessage(t, watcher)
	if pg, ok := m.(client.PeerGone); !ok || pg.Key != late.PublicKey() || pg.Reason != wire.PeerGoneDisconnected {
		t.Fatalf("got %T %+v, want PeerGone for the closed peer", m, m)
	}
}
