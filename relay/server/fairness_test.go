package server_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"

	"github.com/relayctl/relayctl/relay/client"
	"github.com/relayctl/relayctl/relay/key"
	"github.com/relayctl/relayctl/relay/server"
)

// A sender whose packets evict from the queue of a receiver that stopped
// reading must not yield the CPU for them. Its reader would be rescheduled
// at once, before the runtime polls the network, so on a saturated node
// every other sender's reader waited until the stuck receiver's write
// timed out. Yielding is for writers that can drain; this one is blocked
// in a write that only the receiver can finish.
func TestSenderDoesNotYieldToStuckWriter(t *testing.T) {
	var yields atomic.Int64
	t.Cleanup(server.SetYieldToWriterForTest(func() { yields.Add(1) }))
	const depth = 4
	r := newTestRelay(t, server.Options{QueueDepth: depth})

	// Z completes the handshake over a pipe and then never reads: the
	// server's next write to it blocks for good.
	zSrv, zCli := net.Pipe()
	t.Cleanup(func() { zCli.Close(); zSrv.Close() })
	r.wg.Go(func() {
		r.srv.Accept(context.Background(), zSrv, nil, server.ConnInfo{RemoteAddr: netip.MustParseAddrPort("127.0.0.1:1")})
	})
	zPriv := key.NewNode()
	rawHandshake(t, r, zCli, zPriv)
	z := zPriv.Public()

	m := r.connect(client.Options{})
	h := r.connect(client.Options{})
	r.waitFor("Z registered", func() bool { return r.srv.ConnCount() == 3 })
	if err := m.Send(z, []byte("first")); err != nil {
		t.Fatal(err)
	}
	r.waitFor("Z's writer blocked in a write", func() bool { return r.srv.WritingForTest(z) })

	// depth packets fill Z's queue; every further one evicts the oldest.
	const evicting = 50
	for i := range depth + evicting {
		if err := m.Send(z, fmt.Appendf(nil, "to Z %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	// M's reader handles frames in order: once H has this one, every
	// packet to Z has been queued or evicted.
	if err := m.Send(h.PublicKey(), []byte("marker")); err != nil {
		t.Fatal(err)
	}
	if _, got := recvPacket(t, h); string(got) != "marker" {
		t.Fatalf("H got %q, want the marker", got)
	}
	if got := r.metric(`derp_packets_dropped{reason="queue_head",kind="other"}`); got != fmt.Sprint(evicting) {
		t.Fatalf("queue_head drops = %s, want %d", got, evicting)
	}
	if n := yields.Load(); n != 0 {
		t.Errorf("the sender yielded %d times to a writer blocked on a receiver that does not read, want 0", n)
	}
}
