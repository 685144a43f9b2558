package server

import "github.com/relayctl/relayctl/relay/key"

// SendHistoryLen is how many entries k's duplicate-connection send
// history holds.
func (s *Server) SendHistoryLen(k key.NodePublic) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.clients.Load(k)
	if !ok {
		return 0
	}
	return len(v.(*clientSet).sendHistory)
}
