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
// client's send queues, notices and pongs, and a mesh peer's forward
// queue. The owner guards it with its own lock.
//
// Its storage starts small on the first push and doubles up to depth, so
// a client that gets a packet now and then holds a few slots, not depth;
// release gives the storage back once the ring is idle.
type dropOldestRing[T any] struct {
	items      []T // nil until the first push and after release
	depth      int
	head, size int
}

// packetRing is a client's send queue.
type packetRing = dropOldestRing[queuedPacket]

// ringStartSlots is the storage a ring gets on its first push.
const ringStartSlots = 4

func (r *dropOldestRing[T]) len() int { return r.size }

// push appends p; when the ring is full it returns the evicted oldest entry.
func (r *dropOldestRing[T]) push(p T) (evicted T, didEvict bool) {
	if r.size == len(r.items) && r.size < r.depth {
		r.grow()
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

// grow doubles the storage (from ringStartSlots, at most depth), keeping
// the entries in order.
func (r *dropOldestRing[T]) grow() {
	items := make([]T, min(r.depth, max(ringStartSlots, 2*len(r.items))))
	for i := range r.size {
		items[i] = r.items[(r.head+i)%len(r.items)]
	}
	r.items, r.head = items, 0
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

// release drops the storage of an empty ring: most clients are idle most
// of the time. The next push allocates it again.
func (r *dropOldestRing[T]) release() {
	if r.size == 0 {
		r.items, r.head = nil, 0
	}
}

// slots is how many entries the storage holds now.
func (r *dropOldestRing[T]) slots() int { return len(r.items) }
