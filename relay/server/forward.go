package server

import (
	"slices"

	"github.com/relayctl/relayctl/relay/key"
)

// forwarderList is the forwarders known for one key, earliest first. It is
// replaced, never modified, so the packet path reads it without a lock.
type forwarderList []*ForwardQueue

// AddPacketForwarder records that dst is reachable through fwd. When
// several nodes report dst, the earliest registered is used, and the next
// takes over when it goes. Local connections always win over forwarders.
func (s *Server) AddPacketForwarder(dst key.NodePublic, fwd *ForwardQueue) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var list forwarderList
	if v, ok := s.forwarders.Load(dst); ok {
		list = v.(forwarderList)
		if slices.Contains(list, fwd) {
			return
		}
		s.metrics.multiForwarderCreated.Inc()
	} else {
		s.metrics.clientsRemote.Add(1)
	}
	s.forwarders.Store(dst, append(slices.Clip(list), fwd))
}

// RemovePacketForwarder forgets fwd for dst. If dst then has neither a
// local connection nor another forwarder, it has left the region: every
// local client that received packets from it hears PeerGone.
func (s *Server) RemovePacketForwarder(dst key.NodePublic, fwd *ForwardQueue) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.forwarders.Load(dst)
	if !ok {
		s.metrics.forwarderDeleteOther.Inc()
		return
	}
	list := v.(forwarderList)
	i := slices.Index(list, fwd)
	if i < 0 {
		s.metrics.forwarderDeleteOther.Inc()
		return
	}
	if len(list) > 1 {
		s.metrics.multiForwarderDeleted.Inc()
		s.forwarders.Store(dst, slices.Delete(slices.Clone(list), i, i+1))
		return
	}
	s.forwarders.Delete(dst)
	s.metrics.clientsRemote.Add(-1)
	if _, local := s.clients.Load(dst); !local {
		s.remoteSends.peerGone(dst)
	}
}

// forwarderFor returns the preferred forwarder for dst, or nil.
func (s *Server) forwarderFor(dst key.NodePublic) *ForwardQueue {
	v, ok := s.forwarders.Load(dst)
	if !ok {
		return nil
	}
	return v.(forwarderList)[0]
}

// forwardTo hands a packet to the mesh peer that has dst, if any, and
// reports whether one took it (and buf with it). Forwarded packets are
// counted when written, or dropped with a reason.
func (s *Server) forwardTo(src, dst key.NodePublic, buf *[]byte) bool {
	fwd := s.forwarderFor(dst)
	if fwd == nil {
		return false
	}
	fwd.forward(src, dst, buf)
	return true
}

// hasForwarder reports whether another node of the region has k.
func (s *Server) hasForwarder(k key.NodePublic) bool {
	_, ok := s.forwarders.Load(k)
	return ok
}

// ReconcileRemote is called once a mesh watcher has the full list of the
// clients of the node whose key is peer. Senders that node forwarded to
// our clients, but which it no longer has and no one else has either, left
// while we were not yet watching it: their receivers hear PeerGone now.
func (s *Server) ReconcileRemote(peer key.NodePublic) {
	l := &s.remoteSends
	l.mu.Lock()
	var gone []key.NodePublic
	for src, rs := range l.senders {
		if rs.via != peer {
			continue
		}
		if _, local := s.clients.Load(src); local || s.hasForwarder(src) {
			continue
		}
		gone = append(gone, src)
	}
	l.mu.Unlock()
	for _, src := range gone {
		l.peerGone(src)
	}
}
