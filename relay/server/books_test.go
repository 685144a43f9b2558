package server_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/relayctl/relayctl/relay/client"
	"github.com/relayctl/relayctl/relay/server"
)

// TestStuckReceiverBooksBalance: every packet sent to a receiver that
// stops reading is either delivered (it reads what reached it once the
// relay has closed it) or counted as dropped. A write that times out
// drops the packets gathered for it; they were once counted as sent and
// vanished from the books.
func TestStuckReceiverBooksBalance(t *testing.T) {
	r := newTestRelay(t, server.Options{WriteTimeout: 200 * time.Millisecond})
	sender := r.connect(client.Options{})
	stuck := r.connect(client.Options{})
	pkt := make([]byte, 1000) // many to a write buffer
	sent := 0
	deadline := time.Now().Add(10 * time.Second)
	for r.metric("derp_sclient_write_timeouts") != "1" {
		if time.Now().After(deadline) {
			t.Fatal("the stuck receiver never timed out")
		}
		for range server.DefaultQueueDepth + 8 {
			if err := sender.Send(stuck.PublicKey(), pkt); err != nil {
				t.Fatal(err)
			}
			sent++
		}
		r.waitFor("packets read by the relay", func() bool { return r.metric("derp_packets_received") == strconv.Itoa(sent) })
	}
	delivered := 0
	for {
		m, err := stuck.Recv()
		if err != nil {
			break
		}
		if _, ok := m.(*client.ReceivedPacket); ok {
			delivered++
		}
	}
	countDropped := func() int {
		n := 0
		for _, reason := range []string{"queue_head", "write_error", "gone_disconnected", "unknown_dest"} {
			v, _ := strconv.Atoi(r.metric(`derp_packets_dropped{reason="` + reason + `",kind="other"}`))
			n += v
		}
		return n
	}
	// The relay counts what was still queued just after it closes the
	// connection: give it the moment.
	for settle := time.Now().Add(2 * time.Second); delivered+countDropped() < sent && time.Now().Before(settle); {
		time.Sleep(5 * time.Millisecond)
	}
	dropped := countDropped()
	t.Logf("sent %d, delivered %d, dropped %d", sent, delivered, dropped)
	// The write that timed out may have put some of its packets on the
	// wire whole before it failed: those are both delivered and counted
	// dropped. At most one buffer's worth.
	if over := delivered + dropped - sent; over < 0 || over > 32<<10/len(pkt) {
		t.Errorf("delivered %d + dropped %d − sent %d = %d, want 0 to %d", delivered, dropped, sent, over, 32<<10/len(pkt))
	}
}
