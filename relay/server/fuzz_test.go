package server_test

import (
	"net"
	"testing"
	"time"

	"github.com/relayctl/relayctl/relay/client"
	"github.com/relayctl/relayctl/relay/key"
	"github.com/relayctl/relayctl/relay/server"
	"github.com/relayctl/relayctl/relay/wire"
)

// FuzzServerFrames sends arbitrary bytes after a good handshake. The
// relay may close that connection, but must not panic, must unregister
// it, and must keep delivering for others.
func FuzzServerFrames(f *testing.F) {
	f.Add(wire.AppendFrameHeader(nil, wire.FrameSendPacket, 0x7fffffff))
	f.Add(append(wire.AppendFrameHeader(nil, wire.FrameNotePreferred, 2), 1, 1))
	f.Add(append(wire.AppendFrameHeader(nil, wire.FramePing, 8), "12345678"...))
	f.Add(wire.AppendFrameHeader(nil, wire.FrameWatchConns, 0))
	f.Add(append(wire.AppendFrameHeader(nil, wire.FrameSendPacket, 40), make([]byte, 40)...))
	f.Add([]byte("garbage after the upgrade"))
	r := newFuzzRelay(f)
	a := r.connect(client.Options{})
	b := r.connect(client.Options{})
	f.Fuzz(func(t *testing.T, in []byte) {
		nc, err := net.Dial("tcp", r.ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		rawHandshake(t, r, nc, key.NewNode())
		nc.Write(in)
		nc.Close()
		waitFor(t, "fuzz connection gone", func() bool { return r.srv.ConnCount() == 2 })
		if err := a.Send(b.PublicKey(), []byte("alive")); err != nil {
			t.Fatal(err)
		}
		// b may first hear about the fuzz connection (its packets, then
		// PeerGone); wait for the marker.
		for {
			m, err := b.Recv()
			if err != nil {
				t.Fatal(err)
			}
			if p, ok := m.(*client.ReceivedPacket); ok && p.Source == a.PublicKey() && string(p.Data) == "alive" {
				break
			}
		}
	})
}

// newFuzzRelay is newTestRelay for a fuzz target: one relay for all inputs.
func newFuzzRelay(f *testing.F) *testRelay {
	return newTestRelayTB(f, server.Options{WriteTimeout: time.Second})
}
