package mesh

import (
	"sync"

	"github.com/relayctl/relayctl/internal/packetbuf"
	"github.com/relayctl/relayctl/relay/client"
	"github.com/relayctl/relayctl/relay/key"
)

// forwardQueueDepth bounds packets waiting for one mesh peer. Like a
// client's queue it drops its oldest packet when full, so a slow peer
// never stalls the senders on this node.
const forwardQueueDepth = 512

type forwardItem struct {
	src, dst key.NodePublic
	buf      *[]byte
}

// forwarder queues packets for one mesh connection and writes them in
// batches from its own goroutine. It is the server.PacketForwarder for
// every key learned over that connection.
type forwarder struct {
	c       *client.Client
	metrics *peerMetrics

	mu     sync.Mutex
	queue  []forwardItem
	closed bool
	wake   chan struct{}
	done   chan struct{}
}

func newForwarder(c *client.Client, m *peerMetrics) *forwarder {
	f := &forwarder{c: c, metrics: m, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go f.writeLoop()
	return f
}

// ForwardPacket copies pkt into the queue; it never blocks on the network.
func (f *forwarder) ForwardPacket(src, dst key.NodePublic, pkt []byte) error {
	buf := packetbuf.Get(len(pkt))
	copy(*buf, pkt)
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		packetbuf.Put(buf)
		return errForwarderClosed
	}
	if len(f.queue) >= forwardQueueDepth {
		packetbuf.Put(f.queue[0].buf)
		f.queue = append(f.queue[:0], f.queue[1:]...)
		f.metrics.dropped.Inc()
	}
	f.queue = append(f.queue, forwardItem{src, dst, buf})
	f.mu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
	return nil
}

type forwarderError string

func (e forwarderError) Error() string { return string(e) }

const errForwarderClosed = forwarderError("mesh forwarder closed")

func (f *forwarder) writeLoop() {
	var batch []forwardItem
	var frames []client.Forwarded
	for {
		select {
		case <-f.done:
			return
		case <-f.wake:
		}
		for {
			f.mu.Lock()
			batch = append(batch[:0], f.queue...)
			clear(f.queue)
			f.queue = f.queue[:0]
			f.mu.Unlock()
			if len(batch) == 0 {
				break
			}
			frames = frames[:0]
			for _, it := range batch {
				frames = append(frames, client.Forwarded{Src: it.src, Dst: it.dst, Data: *it.buf})
			}
			err := f.c.ForwardBatch(frames)
			for _, it := range batch {
				packetbuf.Put(it.buf)
			}
			if err != nil {
				// The watch loop sees the broken connection too and
				// replaces this forwarder.
				f.metrics.dropped.Add(int64(len(batch)))
				return
			}
			f.metrics.forwarded.Add(int64(len(batch)))
		}
	}
}

// close stops the writer and drops what is queued.
func (f *forwarder) close() {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return
	}
	f.closed = true
	for _, it := range f.queue {
		packetbuf.Put(it.buf)
	}
	f.queue = nil
	f.mu.Unlock()
	close(f.done)
}
