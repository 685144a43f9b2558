package mesh

import (
	"github.com/relayctl/relayctl/relay/client"
	"github.com/relayctl/relayctl/relay/server"
)

// newForwarder returns the server's forward queue for one mesh connection:
// packets for keys the peer has go out through c, many frames per flush.
func newForwarder(s *server.Server, c *client.Client, m *peerMetrics) *server.ForwardQueue {
	return s.NewForwardQueue(&peerWriter{c: c}, server.PeerCounters{Forwarded: m.forwarded, Dropped: m.dropped})
}

// peerWriter writes forwarded packets on our client connection to a peer.
// Only the forward queue's goroutine uses it.
type peerWriter struct {
	c      *client.Client
	frames []client.Forwarded
}

func (w *peerWriter) WriteForwarded(batch []server.ForwardedPacket) error {
	w.frames = w.frames[:0]
	for _, p := range batch {
		w.frames = append(w.frames, client.Forwarded{Src: p.Src, Dst: p.Dst, Data: p.Data})
	}
	err := w.c.ForwardBatch(w.frames)
	clear(w.frames)
	return err
}
