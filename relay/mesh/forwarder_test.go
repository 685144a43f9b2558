package mesh

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// metricSum adds up every series of the metric name in n's registry.
func metricSum(t *testing.T, n *node, name string) int64 {
	t.Helper()
	var b strings.Builder
	n.srv.Metrics().WritePrometheus(&b)
	var sum int64
	for line := range strings.Lines(b.String()) {
		series, value, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok || (series != name && !strings.HasPrefix(series, name+"{")) {
			continue
		}
		v, err := strconv.ParseInt(value, 10, 64)
		if err != nil {
			t.Fatalf("metric %s: %v", line, err)
		}
		sum += v
	}
	return sum
}

// TestForwardingCountsEveryPacket: node a forwards to node b through a
// link that stalls, so a's forward queue overflows. Every packet a's
// client sent is then either counted forwarded (and b read exactly that
// many ForwardPacket frames) or counted dropped.
func TestForwardingCountsEveryPacket(t *testing.T) {
	a, b := startPair(t, nil)
	proxy := newTestProxy(t, b.addr, nil)
	meshThrough(t, a, b, proxy.addr(), nil)
	waitMetric(t, a, `relayctl_mesh_peer_connected{peer="b"} 1`)

	sender, receiver := dial(t, a), dial(t, b)
	deliverEventually(t, sender, receiver, "first")
	go func() {
		for {
			if _, err := receiver.Recv(); err != nil {
				return
			}
		}
	}()

	const packets = 10000
	pkt := make([]byte, 1200)
	proxy.pause()
	for range packets {
		if err := sender.Send(receiver.PublicKey(), pkt); err != nil {
			proxy.resume()
			t.Fatal(err)
		}
	}
	received := func() int64 { return metricSum(t, a, "derp_packets_received") }
	waitFor(t, "a to read every packet", func() bool { return received() >= packets })
	proxy.resume()

	var out, dropped, in int64
	deadline := time.Now().Add(10 * time.Second)
	for {
		out = metricSum(t, a, "derp_packets_forwarded_out")
		dropped = metricSum(t, a, "derp_packets_dropped")
		in = metricSum(t, b, "derp_packets_forwarded_in")
		if out == in && out+dropped == received() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a received %d packets, counted %d forwarded and %d dropped; b read %d forwarded",
				received(), out, dropped, in)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if full := metricSum(t, a, `derp_packets_dropped{reason="queue_head",kind="other"}`); full == 0 {
		t.Fatalf("the stalled link never filled a's forward queue (%d forwarded, %d dropped)", out, dropped)
	}
	if peerDropped := metricSum(t, a, "relayctl_mesh_packets_dropped"); peerDropped != dropped-metricSum(t, a, `derp_packets_dropped{reason="unknown_dest",kind="other"}`) {
		t.Errorf("relayctl_mesh_packets_dropped = %d, want the %d forwarding drops", peerDropped, dropped)
	}
}
