package interop

import (
	"context"
	"flag"
	"fmt"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/relayctl/relayctl/relay/client"
	ourkey "github.com/relayctl/relayctl/relay/key"
)

var memoryClients = flag.Int("memory.clients", 10000, "clients in TestMemoryStuckReceivers")

// The terms of the memory bound for stuck receivers (docs/reliability.md):
//
//	RSS ≤ base + N × (h × (D × S(P) + W) + G + I)
//
// N clients, each with D packets of P bytes queued, held in pooled
// buffers of size class S(P); W the write buffer a blocked writer holds;
// G the blocked writer's goroutine stack; I an idle connection's cost;
// h the Go heap's headroom over live data (GOGC=100: up to 2).
const (
	memQueueDepth  = 32       // server.DefaultQueueDepth
	memPacketSize  = 1200     // a WireGuard packet's size
	memBufferClass = 2 << 10  // packetbuf's class for 1 200 bytes
	memWriteBuffer = 32 << 10 // relay/server writeBufSize
	memWriterStack = 8 << 10
	memIdleConn    = 12 << 10 // the idle-memory target of docs/performance.md
	memHeapHeadway = 2
	// memRcvBuf is each client's socket receive buffer: small, so that
	// the relay's queues fill without gigabytes in kernel buffers.
	memRcvBuf = 4 << 10
	memMSS    = 1400
)

func memoryBound(n int) int64 {
	return int64(n) * (memHeapHeadway*(memQueueDepth*memBufferClass+memWriteBuffer) + memWriterStack + memIdleConn)
}

// TestMemoryStuckReceivers connects N clients in a ring, each sending to
// the next and none reading, with no write timeout (so the relay never
// closes them: the worst case), until every queue is full. The relay's
// RSS must stay within the bound above.
func TestMemoryStuckReceivers(t *testing.T) {
	if !serverSelected(relayctlServer) {
		t.Skip("relayctl not selected by INTEROP_SERVERS")
	}
	n := *memoryClients
	// Neither the write timeout nor TCP_USER_TIMEOUT (which ends a
	// connection whose window stays shut) may close the stuck clients.
	s := startServer(t, relayctlServer, "--tcp-write-timeout", "0", "--tcp-user-timeout", "0")
	pid := s.proc.Pid
	base, err := rssBytes(pid)
	if err != nil {
		t.Fatal(err)
	}

	clients := make([]*client.Client, n)
	dialer := &net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, memRcvBuf)
			if serr == nil {
				// Loopback's 64 KiB segments would let the relay's send
				// buffer grow to megabytes per connection.
				serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_MAXSEG, memMSS)
			}
		})
		if err != nil {
			return err
		}
		return serr
	}}
	start := time.Now()
	g, ctx := errgroup.WithContext(t.Context())
	g.SetLimit(32)
	for i := range clients {
		g.Go(func() error {
			dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			c, err := client.Dial(dctx, s.url("/derp"), ourkey.NewNode(), client.Options{Dialer: dialer.DialContext})
			if err != nil {
				return fmt.Errorf("client %d: %w", i, err)
			}
			clients[i] = c
			return nil
		})
	}
	err = g.Wait()
	t.Cleanup(func() {
		for _, c := range clients {
			if c != nil {
				c.Close()
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	idle, err := rssBytes(pid)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d clients connected in %v; relay RSS %s → %s (%.1f KiB per idle client)",
		n, time.Since(start).Round(time.Millisecond), mib(base), mib(idle), float64(idle-base)/float64(n)/1024)

	// Each round, every client sends a burst to the next one; the relay
	// reads them all (its queues drop the oldest) while the receivers'
	// sockets fill up. Rounds go on until every queue is full.
	pkt := make([]byte, memPacketSize)
	full := float64(n * memQueueDepth)
	var peak int64
	rounds := 0
	for queued := 0.0; queued < full; rounds++ {
		if rounds == 200 {
			t.Fatalf("queues hold %v packets after %d rounds, want %v", queued, rounds, full)
		}
		var wg sync.WaitGroup
		sem := make(chan struct{}, 64)
		for i, c := range clients {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				next := clients[(i+1)%n].PublicKey()
				for range 16 {
					if err := c.Send(next, pkt); err != nil {
						t.Errorf("client %d: %v", i, err)
						return
					}
				}
			})
		}
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
		if rss, err := rssBytes(pid); err == nil {
			peak = max(peak, rss)
		}
		// Wait for the relay to have read what was sent.
		queued, err = varzValue(t.Context(), "http://"+s.httpAddr, "relayctl_send_queue_packets")
		if err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(time.Second) // let the relay settle: a measuring pause, not a condition
	rss, err := rssBytes(pid)
	if err != nil {
		t.Fatal(err)
	}
	peak = max(peak, rss)
	dropped, _ := varzValue(t.Context(), "http://"+s.httpAddr, `derp_packets_dropped{reason="queue_head",kind="other"}`)
	bound := base + memoryBound(n)
	t.Logf("%d rounds of 16 × %d B; %v packets queued, %v dropped (queue_head); relay RSS %s (peak %s), %.1f KiB per stuck client; bound %s",
		rounds, memPacketSize, full, dropped, mib(rss), mib(peak), float64(peak-base)/float64(n)/1024, mib(bound))
	if peak > bound {
		t.Errorf("relay RSS peaked at %s with %d stuck clients, want ≤ %s (base %s + N × %.1f KiB)",
			mib(peak), n, mib(bound), mib(base), float64(memoryBound(1))/1024)
	}
	if !s.alive() {
		t.Fatal("relay exited")
	}
}
