package mesh

import (
	"github.com/relayctl/relayctl/relay/client"
	"github.com/relayctl/relayctl/relay/server"
)

// newForwarder returns the server's forward queue for one mesh connection:
// packets for keys the peer has go out through c, many frames per flush.
func newForwarder(s *server.Server, c *client.Client, m *peerMetrics) *server.ForwardQueue {
	return s.NewForwardQueue(c, server.PeerCounters{Forwarded: m.forwarded, Dropped: m.dropped})
}
