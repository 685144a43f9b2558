package server

import (
	"net"
	"testing"
	"time"

	"github.com/relayctl/relayctl/internal/packetbuf"
	"github.com/relayctl/relayctl/relay/key"
	"github.com/relayctl/relayctl/relay/wire"
)

// discardConn is a connection whose writes vanish at once.
type discardConn struct{ net.Conn }

func (discardConn) Write(p []byte) (int, error)      { return len(p), nil }
func (discardConn) SetWriteDeadline(time.Time) error { return nil }
func (discardConn) Close() error                     { return nil }

// BenchmarkQueuePath is a packet's way from the sender's reader to the
// receiver's connection, without goroutine switches: enqueue, then the
// writer's take and write of a batch of 16, as a busy writer does.
func BenchmarkQueuePath(b *testing.B) {
	s, err := New(Options{PrivateKey: key.NewNode()})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(1200)
	b.ReportAllocs()
	queuePath(s, b.Loop)
}

// BenchmarkQueuePathParallel is BenchmarkQueuePath on every core at once,
// each sender with its own receiver: what the packet path still shares
// between cores (server-wide counters) shows here.
func BenchmarkQueuePathParallel(b *testing.B) {
	s, err := New(Options{PrivateKey: key.NewNode()})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(1200)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) { queuePath(s, pb.Next) })
}

// queuePath relays 1200-byte packets to a receiver of its own while next
// says so. The receiver's writerReady stays false, so no writer goroutine
// starts: the loop does its work.
func queuePath(s *Server, next func() bool) {
	src := key.NewNode().Public()
	c := s.newSclient(discardConn{}, key.NewNode().Public(), wire.ClientInfo{}, ConnInfo{}, false)
	var work pendingWork
	fw := frameWriter{conn: c.nc, writing: &c.writing}
	const batch = 16
	for i := 0; next(); i++ {
		c.enqueue(src, packetbuf.Get(1200), false)
		if i%batch == batch-1 {
			c.take(&work)
			c.writeWork(&fw, &work)
			work.reset()
			fw.flush()
		}
	}
	fw.release()
}
