package server

import (
	"runtime"
	"weak"

	"github.com/relayctl/relayctl/relay/key"
)

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

// ActiveConnFreed returns a function that collects garbage and reports
// whether what is now k's active connection has been freed.
func (s *Server) ActiveConnFreed(k key.NodePublic) func() bool {
	c, _ := s.lookup(k)
	wp := weak.Make(c)
	return func() bool {
		runtime.GC()
		return wp.Value() == nil
	}
}
