package server

import (
	"bytes"
	"strings"
	"testing"

	"github.com/relayctl/relayctl/internal/packetbuf"
	"github.com/relayctl/relayctl/relay/key"
	"github.com/relayctl/relayctl/relay/wire"
)

// TestQueuedPacketsGauge: relayctl_send_queue_packets counts what waits in
// every client's data and disco queues when scraped, and nothing once a
// client's queues are dropped at close.
func TestQueuedPacketsGauge(t *testing.T) {
	s := newBareServer(t)
	src := key.NewNode().Public()
	scrape := func() string {
		var b bytes.Buffer
		s.registry.WritePrometheus(&b)
		for l := range strings.Lines(b.String()) {
			if v, ok := strings.CutPrefix(l, "relayctl_send_queue_packets "); ok {
				return strings.TrimSpace(v)
			}
		}
		return ""
	}
	var clients []*sclient
	for range 2 {
		c := s.newSclient(discardConn{}, key.NewNode().Public(), wire.ClientInfo{}, ConnInfo{}, false)
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		clients = append(clients, c)
	}
	for range 3 {
		clients[0].enqueue(src, packetbuf.Get(100), false)
	}
	clients[1].enqueue(src, packetbuf.Get(100), true)
	if got := scrape(); got != "4" {
		t.Fatalf("relayctl_send_queue_packets = %q with 4 packets queued, want 4", got)
	}
	clients[0].close()
	if got := scrape(); got != "1" {
		t.Fatalf("relayctl_send_queue_packets = %q after a close dropped 3, want 1", got)
	}
}
