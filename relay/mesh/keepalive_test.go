package mesh

import (
	"strings"
	"sync"
	"testing"
	"time"
)

// TestSilentLinkIsGivenUp: the link from a to b stops passing data
// without a reset (a black hole). a's mesh client notices within
// PingInterval + PongTimeout, says why, and once the link passes data
// again it is connected and forwarding. With a load queued behind the
// silence the bound holds too: the pong timer does not wait for a write
// stuck in a full socket buffer. (Before the keepalive, a noticed only
// at the client's 120 s receive timeout or a 30 s write timeout.)
func TestSilentLinkIsGivenUp(t *testing.T) {
	for _, tc := range []struct {
		name string
		load int // packets sent into the silent link
	}{
		{"idle", 0},
		{"loaded", 3000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs := &logBuffer{}
			a, b := startPair(t, logs.logger())
			proxy := newTestProxy(t, b.addr, nil)
			const ping, pong = 100 * time.Millisecond, 400 * time.Millisecond
			meshThrough(t, a, b, proxy.addr(), func(m *Mesh) { m.pingInterval, m.pongTimeout = ping, pong })
			waitMetric(t, a, `relayctl_mesh_peer_connected{peer="b"} 1`)
			sender, receiver := dial(t, a), dial(t, b)
			deliverEventually(t, sender, receiver, "before")

			proxy.pause()
			resume := sync.OnceFunc(proxy.resume)
			defer resume() // before the proxy's cleanup, even on failure
			silent := time.Now()
			pkt := make([]byte, 1200)
			for range tc.load {
				if err := sender.Send(receiver.PublicKey(), pkt); err != nil {
					t.Fatal(err)
				}
			}
			waitMetricWithin(t, a, `relayctl_mesh_reconnects{peer="b"} 1`, 5*time.Second)
			noticed := time.Since(silent)
			resume()
			if bound := ping + pong + 500*time.Millisecond; noticed > bound {
				t.Errorf("the silent link was given up after %v, want within %v", noticed, bound)
			}
			if !strings.Contains(logs.String(), "no pong within 400ms") {
				t.Errorf("the log does not say the link went silent:\n%s", logs)
			}
			waitMetric(t, a, `relayctl_mesh_peer_connected{peer="b"} 1`)
			deliverEventually(t, sender, receiver, "after")
		})
	}
}
