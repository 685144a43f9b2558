package server

import (
	"time"

	"github.com/relayctl/relayctl/relay/key"
)

// queuedPacket is one packet waiting for its recipient's writer.
type queuedPacket struct {
	src      key.NodePublic
	buf      *[]byte // pooled; returned once written or dropped
	enqueued time.Time
}

// packetRing is a bounded FIFO that drops its oldest entry when full, so a
// slow reader sees fresh packets rather than stale ones and never makes
// its senders wait. Guarded by the owning sclient's queueMu.
type packetRing struct {
	items      []queuedPacket // allocated on first push: idle clients hold none
	depth      int
	head, size int
}

func newPacketRing(depth int) packetRing {
	return packetRing{depth: depth}
}

func (r *packetRing) len() int { return r.size }

// push appends p; when the ring is full it returns the evicted oldest entry.
func (r *packetRing) push(p queuedPacket) (evicted queuedPacket, didEvict bool) {
	if r.items == nil {
		r.items = make([]queuedPacket, r.depth)
	}
	if r.size == len(r.items) {
		evicted = r.items[r.head]
		r.items[r.head] = p
		r.head = (r.head + 1) % len(r.items)
		return evicted, true
	}
	r.items[(r.head+r.size)%len(r.items)] = p
	r.size++
	return queuedPacket{}, false
}

// pop removes the oldest entry.
func (r *packetRing) pop() (queuedPacket, bool) {
	if r.size == 0 {
		return queuedPacket{}, false
	}
	p := r.items[r.head]
	r.items[r.head] = queuedPacket{}
	r.head = (r.head + 1) % len(r.items)
	r.size--
	return p, true
}
