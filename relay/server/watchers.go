package server

import (
	"github.com/relayctl/relayctl/relay/key"
	"github.com/relayctl/relayctl/relay/wire"
)

// addWatcher subscribes a mesh client to connection changes and sends it
// the current set: one PeerPresent per key with an active connection,
// itself included.
func (s *Server) addWatcher(w *sclient) {
	if w.key == s.publicKey {
		return // our own mesh client looped back: nothing to learn
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.watchers[w]; ok || !w.registered {
		return
	}
	s.watchers[w] = struct{}{}
	s.metrics.watchers.Add(1)
	s.noteWatcherArrivedLocked()
	var snapshot []peerUpdate
	s.clients.Range(func(_, v any) bool {
		if c := v.(*clientSet).active.Load(); c != nil {
			snapshot = append(snapshot, peerUpdate{present: true, pp: c.peerPresent()})
		}
		return true
	})
	// The whole snapshot is queued, however many keys there are, and the
	// queue's depth leaves the usual room for changes behind it.
	w.queueControl(func() {
		w.updates.depth = max(w.updates.depth, w.updates.len()+len(snapshot)+maxPendingUpdates)
		for _, u := range snapshot {
			w.addUpdateLocked(u)
		}
	})
}

func (c *sclient) peerPresent() wire.PeerPresent {
	return wire.PeerPresent{Key: c.key, Addr: c.remote, Flags: c.presentFlags()}
}

// broadcastPresentLocked tells every watcher about a new connection.
func (s *Server) broadcastPresentLocked(c *sclient) {
	if len(s.watchers) == 0 {
		return
	}
	pp := c.peerPresent()
	for w := range s.watchers {
		w.queuePresent(pp)
	}
}

// closePeer force-closes every connection of k (the admin ClosePeer
// frame). The usual unregister path then tells watchers and receivers.
func (s *Server) closePeer(k key.NodePublic, by *sclient) {
	s.mu.Lock()
	var conns []*sclient
	if v, ok := s.clients.Load(k); ok {
		conns = append(conns, v.(*clientSet).conns...)
	}
	s.mu.Unlock()
	if len(conns) == 0 {
		by.logger.Info("ClosePeer: no such peer", "peer", k.String())
		return
	}
	by.logger.Info("ClosePeer: closing peer", "peer", k.String(), "connections", len(conns))
	for _, c := range conns {
		c.close()
	}
}
