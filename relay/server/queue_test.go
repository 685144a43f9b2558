package server

import (
	"testing"

	"github.com/relayctl/relayctl/internal/packetbuf"
)

func TestPacketRingDropsOldest(t *testing.T) {
	r := newPacketRing(3)
	if r.items != nil {
		t.Fatal("ring storage allocated before the first packet")
	}
	for i := range 5 {
		b := packetbuf.Get(1)
		(*b)[0] = byte(i)
		old, evicted := r.push(queuedPacket{buf: b})
		if evicted != (i >= 3) {
			t.Fatalf("push %d: evicted=%v", i, evicted)
		}
		if evicted && (*old.buf)[0] != byte(i-3) {
			t.Fatalf("push %d evicted packet %d, want the oldest %d", i, (*old.buf)[0], i-3)
		}
	}
	for want := 2; want < 5; want++ {
		p, ok := r.pop()
		if !ok || (*p.buf)[0] != byte(want) {
			t.Fatalf("pop: got %v %v, want %d", p.buf, ok, want)
		}
	}
	if _, ok := r.pop(); ok || r.len() != 0 {
		t.Fatal("ring not empty")
	}
}
