package server

import (
	"time"

	"github.com/relayctl/relayctl/relay/key"
)

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

// SetWriterIdleExitForTest changes how long a streaming writer waits for
// more work; the returned func restores it.
func SetWriterIdleExitForTest(d time.Duration) (restore func()) {
	old := writerIdleExit
	writerIdleExit = d
	return func() { writerIdleExit = old }
}

// WriterStateForTest reports whether k has a writer goroutine and how
// many slots its data and disco queues hold.
func (s *Server) WriterStateForTest(k key.NodePublic) (running bool, dataSlots, discoSlots int) {
	c, _ := s.lookup(k)
	if c == nil {
		return false, 0, 0
	}
	c.queueMu.Lock()
	defer c.queueMu.Unlock()
	return c.writerRunning, c.dataQ.slots(), c.discoQ.slots()
}
