package server

import (
	"github.com/relayctl/relayctl/relay/key"
)

// queuedPacket is one packet waiting for its recipient's writer.
type queuedPacket struct {
	src key.NodePublic
	buf *[]byte // pooled; returned once written or dropped
}

// dropOldestRing is a bounded FIFO that drops its oldest entry when full,
// so a slow reader sees fresh packets rather than stale ones and never
// makes its senders wait. It is the one such queue of the relay: a
// client's send queues and a mesh peer's forward queue. The owner guards
// it with its own lock.
type dropOldestRing[T any] struct {
	items      []T // allocated on first push: idle clients hold none
	depth      int
	head, size int
}

// packetRing is a client's send queue.
type packetRing = dropOldestRing[queuedPacket]

func newPacketRing(depth int) packetRing {
	return packetRing{depth: depth}
}

func (r *dropOldestRing[T]) len() int { return r.size }

// push appends p; when the ring is full it returns the evicted oldest entry.
func (r *dropOldestRing[T]) push(p T) (evicted T, didEvict bool) {
	if r.items == nil {
		r.items = make([]T, r.depth)
	}
	if r.size == len(r.items) {
		evicted = r.items[r.head]
		r.items[r.head] = p
		r.head = (r.head + 1) % len(r.items)
		return evicted, true
	}
	r.items[(r.head+r.size)%len(r.items)] = p
	r.size++
	return evicted, false
}

// pop removes the oldest entry.
func (r *dropOldestRing[T]) pop() (p T, ok bool) {
	if r.size == 0 {
		return p, false
	}
	p = r.items[r.head]
	var zero T
	r.items[r.head] = zero
	r.head = (r.head + 1) % len(r.items)
	r.size--
	return p, true
}
