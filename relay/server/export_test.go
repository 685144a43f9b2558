package server

import "github.com/relayctl/relayctl/relay/key"

// SetYieldToWriterForTest replaces the yield a sender makes to a full
// receiver's writer; the returned func restores it.
func SetYieldToWriterForTest(f func()) (restore func()) {
	old := yieldToWriter
	yieldToWriter = f
	return func() { yieldToWriter = old }
}

// WritingForTest reports whether k's writer is inside a write.
func (s *Server) WritingForTest(k key.NodePublic) bool {
	c, _ := s.lookup(k)
	return c != nil && c.writing.Load()
}
