package server_test

import (
	"testing"

	"github.com/relayctl/relayctl/relay/client"
	"github.com/relayctl/relayctl/relay/key"
	"github.com/relayctl/relayctl/relay/server"
)

// signalForwards is a mesh peer that takes every batch and says so.
type signalForwards chan int

func (s signalForwards) ForwardBatch(b []server.ForwardedPacket) error {
	s <- len(b)
	return nil
}

// TestRelayPathAllocs holds the whole relay path to zero allocations per
// packet in steady state, counted over the process: the frame read from
// the sender's connection, routing, the queue, and the frame written to
// the receiver (or the mesh peer), clients included (their own packet
// path allocates nothing either). Tests whose name contains "Alloc" also
// run without the race detector in CI (.ci/run).
func TestRelayPathAllocs(t *testing.T) {
	if underRace {
		t.Skip("the race detector allocates")
	}
	mesh := key.NewMesh()
	r := newTestRelay(t, server.Options{MeshKey: mesh})
	tx := r.connect(client.Options{})
	rx := r.connect(client.Options{})
	peer := r.connect(client.Options{MeshKey: mesh})
	written := make(signalForwards, 1)
	fwd := r.srv.NewForwardQueue(written, server.PeerCounters{})
	t.Cleanup(fwd.Close)
	remote := key.NewNode().Public()
	r.srv.AddPacketForwarder(remote, fwd)
	pkt := make([]byte, 1200)
	// Over the writer's 32 KiB buffer: header and payload go out in one
	// writev (net.Buffers), without a copy.
	large := make([]byte, 40<<10)

	// recv waits for the packet at rx.
	recv := func() {
		for {
			m, err := rx.Recv()
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := m.(*client.ReceivedPacket); ok {
				return
			}
		}
	}
	tests := []struct {
		name string
		one  func()
	}{
		{"local", func() {
			if err := tx.Send(rx.PublicKey(), pkt); err != nil {
				t.Fatal(err)
			}
			recv()
		}},
		{"local_large", func() {
			if err := tx.Send(rx.PublicKey(), large); err != nil {
				t.Fatal(err)
			}
			recv()
		}},
		{"forwarded_in", func() {
			if err := peer.ForwardPacket(remote, rx.PublicKey(), pkt); err != nil {
				t.Fatal(err)
			}
			recv()
		}},
		{"forwarded_out", func() {
			if err := tx.Send(remote, pkt); err != nil {
				t.Fatal(err)
			}
			<-written
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for range 100 { // warm the pools, queues and writers
				tc.one()
			}
			if n := testing.AllocsPerRun(1000, tc.one); n != 0 {
				t.Errorf("%v allocations per packet, want 0", n)
			}
		})
	}
}
