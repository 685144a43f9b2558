package server

import (
	"runtime"
	"time"
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

// PendingHealth is the Health problem queued for k's active connection
// and not yet written, and whether there is one.
func (s *Server) PendingHealth(k key.NodePublic) (string, bool) {
	c, _ := s.lookup(k)
	if c == nil {
		return "", false
	}
	c.queueMu.Lock()
	defer c.queueMu.Unlock()
	if c.health == nil {
		return "", false
	}
	return *c.health, true
}

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

// SetHealth sends every connected client a Health frame with problem
// (empty: healthy again), and to clients that connect later.
func (s *Server) SetHealth(problem string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.health = problem
	for c := range s.conns {
		c.queueHealth(problem)
	}
}
