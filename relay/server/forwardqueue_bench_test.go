package server

import (
	"testing"

	"github.com/relayctl/relayctl/internal/packetbuf"
	"github.com/relayctl/relayctl/relay/key"
)

// nopForwards takes every batch and writes nothing.
type nopForwards struct{}

func (nopForwards) ForwardBatch([]ForwardedPacket) error { return nil }

// BenchmarkForwardQueue is a packet's way through a mesh peer's forward
// queue without goroutine switches: forward, then the writer's batch of
// up to maxForwardBatch, as a busy forwarder takes it.
func BenchmarkForwardQueue(b *testing.B) {
	s, err := New(Options{PrivateKey: key.NewNode()})
	if err != nil {
		b.Fatal(err)
	}
	// No writer goroutine: the loop below does its work.
	f := &ForwardQueue{
		s: s, w: nopForwards{},
		ring: dropOldestRing[forwardEntry]{depth: forwardQueueDepth},
		wake: make(chan struct{}, 1),
		done: make(chan struct{}),
	}
	src, dst := key.NewNode().Public(), key.NewNode().Public()
	var w forwardWriter
	b.SetBytes(1200)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		f.forward(src, dst, packetbuf.Get(1200))
		if i%maxForwardBatch == maxForwardBatch-1 {
			if _, err := f.writeBatch(&w); err != nil {
				b.Fatal(err)
			}
		}
	}
}
