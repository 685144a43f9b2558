package server

import (
	"sync"

	"github.com/relayctl/relayctl/internal/metrics"
	"github.com/relayctl/relayctl/internal/packetbuf"
	"github.com/relayctl/relayctl/relay/key"
	"github.com/relayctl/relayctl/relay/wire"
)

// forwardQueueDepth bounds the packets waiting for one mesh peer. Like a
// client's queue the forward queue drops its oldest packet when full, so a
// slow peer never stalls the senders on this node.
const forwardQueueDepth = 512

// ForwardedPacket is one packet for a mesh peer: a ForwardPacket frame.
type ForwardedPacket = wire.ForwardedPacket

// ForwardWriter writes to one mesh peer; a *client.Client connected to
// the peer is one. ForwardBatch writes the batch as ForwardPacket frames
// with a single flush and must not keep the packets' Data after it
// returns. A ForwardQueue calls it from one goroutine only.
type ForwardWriter interface {
	ForwardBatch(batch []ForwardedPacket) error
}

// PeerCounters are a mesh peer's own series, counted beside the server's
// derp_packets_forwarded_out and derp_packets_dropped. Either may be nil.
type PeerCounters struct {
	Forwarded, Dropped *metrics.Counter
}

// ForwardQueue is the forwarder for every key learned over one mesh
// connection. The packet path hands it the packet's buffer, without a
// copy; its own goroutine writes everything queued in one batch per flush.
// Every packet is either counted in derp_packets_forwarded_out once
// written, or dropped with a reason.
type ForwardQueue struct {
	s    *Server
	w    ForwardWriter
	peer PeerCounters

	mu     sync.Mutex
	ring   dropOldestRing[forwardEntry]
	closed bool // by Close, or when a write failed
	// closedBy is the reason packets that come after closed are dropped
	// with: dropWriteError once a write failed, else dropGoneDisconnected.
	closedBy dropReason

	wake      chan struct{} // a packet arrived in an empty queue
	done      chan struct{} // closed by Close
	closeOnce sync.Once
}

type forwardEntry struct {
	src, dst key.NodePublic
	buf      *[]byte // pooled
}

// maxForwardBatch bounds how many packets the writer takes per lock hold
// and per flush, so senders queueing meanwhile wait little.
const maxForwardBatch = 128

// NewForwardQueue starts a forward queue writing through w; Close stops
// it. Register it for keys with AddPacketForwarder.
func (s *Server) NewForwardQueue(w ForwardWriter, peer PeerCounters) *ForwardQueue {
	f := &ForwardQueue{
		s: s, w: w, peer: peer,
		ring: dropOldestRing[forwardEntry]{depth: forwardQueueDepth},
		wake: make(chan struct{}, 1),
		done: make(chan struct{}),
	}
	go f.writeLoop()
	return f
}

// forward queues buf (owned from here on) for dst.
func (f *ForwardQueue) forward(src, dst key.NodePublic, buf *[]byte) {
	f.mu.Lock()
	if f.closed {
		reason := f.closedBy
		f.mu.Unlock()
		f.drop(reason, buf)
		return
	}
	wasEmpty := f.ring.len() == 0
	old, evicted := f.ring.push(forwardEntry{src, dst, buf})
	f.mu.Unlock()
	if evicted {
		f.drop(dropQueueHead, old.buf)
	}
	// The writer empties the queue before it waits, so only a packet
	// into an empty queue needs to wake it.
	if wasEmpty {
		select {
		case f.wake <- struct{}{}:
		default:
		}
	}
}

func (f *ForwardQueue) drop(r dropReason, buf *[]byte) {
	f.s.metrics.drop(r, wire.IsDisco(*buf), len(*buf))
	if f.peer.Dropped != nil {
		f.peer.Dropped.Inc()
	}
	packetbuf.Put(buf)
}

func (f *ForwardQueue) writeLoop() {
	var w forwardWriter
	for {
		select {
		case <-f.done:
			return
		case <-f.wake:
		}
		for {
			n, err := f.writeBatch(&w)
			if err != nil {
				// The mesh session sees the broken connection too and
				// replaces this queue; until then packets are dropped.
				f.fail()
				return
			}
			if n == 0 {
				break
			}
		}
	}
}

// forwardWriter is the writer goroutine's scratch, kept between batches:
// the batch as ForwardBatch takes it, taken straight out of the ring, and
// each packet's pooled buffer, to return once written.
type forwardWriter struct {
	batch []ForwardedPacket
	bufs  []*[]byte
}

// writeBatch takes up to maxForwardBatch queued packets and writes them
// with one ForwardBatch; it returns how many it took. After a failed
// write they are dropped as write errors.
func (f *ForwardQueue) writeBatch(w *forwardWriter) (int, error) {
	f.mu.Lock()
	for len(w.batch) < maxForwardBatch {
		e, ok := f.ring.pop()
		if !ok {
			break
		}
		w.batch = append(w.batch, ForwardedPacket{Src: e.src, Dst: e.dst, Data: *e.buf})
		w.bufs = append(w.bufs, e.buf)
	}
	f.mu.Unlock()
	n := len(w.batch)
	if n == 0 {
		return 0, nil
	}
	err := f.w.ForwardBatch(w.batch)
	for _, buf := range w.bufs {
		if err != nil {
			f.drop(dropWriteError, buf)
		} else {
			packetbuf.Put(buf)
		}
	}
	// Neither slice holds a pooled buffer past here.
	clear(w.batch)
	clear(w.bufs)
	w.batch, w.bufs = w.batch[:0], w.bufs[:0]
	if err != nil {
		return n, err
	}
	f.s.metrics.forwardedOut.Add(int64(n))
	if f.peer.Forwarded != nil {
		f.peer.Forwarded.Add(int64(n))
	}
	return n, nil
}

// fail stops queueing after a write error: what is queued and what comes
// are dropped as write errors.
func (f *ForwardQueue) fail() { f.stop(dropWriteError) }

// Close stops the writer and drops what is still queued. A write in
// progress ends when the caller closes the connection below w.
func (f *ForwardQueue) Close() {
	f.closeOnce.Do(func() { close(f.done) })
	f.stop(dropGoneDisconnected)
}

// stop turns away what comes from now on, and drops what is queued, with
// reason r. A failed write's reason outlasts a later Close.
func (f *ForwardQueue) stop(r dropReason) {
	f.mu.Lock()
	if !f.closed || r == dropWriteError {
		f.closed, f.closedBy = true, r
	}
	f.mu.Unlock()
	f.dropQueued(r)
}

func (f *ForwardQueue) dropQueued(r dropReason) {
	for {
		f.mu.Lock()
		e, ok := f.ring.pop()
		f.mu.Unlock()
		if !ok {
			return
		}
		f.drop(r, e.buf)
	}
}
