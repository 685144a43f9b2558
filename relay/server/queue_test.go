package server

import (
	"testing"

	"github.com/relayctl/relayctl/internal/packetbuf"
)

func TestPacketRingDropsOldest(t *testing.T) {
	r := packetRing{depth: 3}
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

func TestPacketRingGrowsInOrderAndReleases(t *testing.T) {
	r := packetRing{depth: 32}
	push := func(v byte) {
		t.Helper()
		b := packetbuf.Get(1)
		(*b)[0] = v
		if _, evicted := r.push(queuedPacket{buf: b}); evicted {
			t.Fatalf("push %d evicted below depth", v)
		}
	}
	pop := func(want byte) {
		t.Helper()
		p, ok := r.pop()
		if !ok || (*p.buf)[0] != want {
			t.Fatalf("pop: got %v %v, want %d", p.buf, ok, want)
		}
		packetbuf.Put(p.buf)
	}
	push(0)
	if r.slots() != ringStartSlots {
		t.Fatalf("%d slots after the first push, want %d", r.slots(), ringStartSlots)
	}
	// Wrap around before growing, so growing must reorder.
	push(1)
	push(2)
	pop(0)
	pop(1)
	for v := byte(3); v < 34; v++ {
		push(v)
		if v == 12 {
			r.release() // not empty: keeps its storage
		}
	}
	if r.slots() != 32 || r.len() != 32 {
		t.Fatalf("%d slots holding %d, want 32 of 32", r.slots(), r.len())
	}
	// At depth the oldest go.
	for v := byte(34); v < 40; v++ {
		b := packetbuf.Get(1)
		(*b)[0] = v
		old, evicted := r.push(queuedPacket{buf: b})
		if !evicted || (*old.buf)[0] != v-32 {
			t.Fatalf("push %d at depth: evicted %v, want packet %d", v, evicted, v-32)
		}
		packetbuf.Put(old.buf)
	}
	for v := byte(8); v < 40; v++ {
		pop(v)
	}
	r.release()
	if r.slots() != 0 {
		t.Fatalf("%d slots after release of an empty ring, want 0", r.slots())
	}
	push(7)
	pop(7)
}
