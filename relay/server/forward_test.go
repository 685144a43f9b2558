package server_test

import (
	"testing"

	"github.com/relayctl/relayctl/relay/client"
	"github.com/relayctl/relayctl/relay/key"
	"github.com/relayctl/relayctl/relay/server"
	"github.com/relayctl/relayctl/relay/wire"
)

// discardForwards is a mesh peer that takes every batch.
type discardForwards struct{}

func (discardForwards) ForwardBatch([]server.ForwardedPacket) error { return nil }

// TestRemoteSenderLeavesTwice: a remote sender reaches a local client over
// the mesh, leaves the region, comes back and leaves again. The receiver
// hears PeerGone both times: what the mesh reader remembers having noted
// must not outlive the sender's departure.
func TestRemoteSenderLeavesTwice(t *testing.T) {
	mesh := key.NewMesh()
	r := newTestRelay(t, server.Options{MeshKey: mesh})
	rx := r.connect(client.Options{})
	peer := r.connect(client.Options{MeshKey: mesh})
	fwd := r.srv.NewForwardQueue(discardForwards{}, server.PeerCounters{})
	t.Cleanup(fwd.Close)
	remote := key.NewNode().Public()
	for round := range 2 {
		r.srv.AddPacketForwarder(remote, fwd)
		for range 3 {
			if err := peer.ForwardPacket(remote, rx.PublicKey(), []byte("hi")); err != nil {
				t.Fatal(err)
			}
			if src, got := recvPacket(t, rx); src != remote || string(got) != "hi" {
				t.Fatalf("round %d: got %q from %v", round, got, src.ShortString())
			}
		}
		r.srv.RemovePacketForwarder(remote, fwd)
		// The notice is queued before the pong: without it, the pong
		// comes first and the test fails instead of waiting.
		if err := rx.SendPing([8]byte{byte(round)}); err != nil {
			t.Fatal(err)
		}
		m := recvMessage(t, rx)
		if pg, ok := m.(client.PeerGone); !ok || pg.Key != remote || pg.Reason != wire.PeerGoneDisconnected {
			t.Fatalf("round %d: got %T %+v, want PeerGone for the remote sender", round, m, m)
		}
		if m := recvMessage(t, rx); m != (client.Pong{Data: [8]byte{byte(round)}}) {
			t.Fatalf("round %d: got %T %+v, want the pong", round, m, m)
		}
	}
}
