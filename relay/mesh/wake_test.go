package mesh

import (
	"testing"
	"time"
)

// TestRestartedPeerRedialledAtOnce: while a peer is down, the redial
// backs off to seconds. A peer that comes back dials its own peers at
// once, so its watcher arriving here is the news that it is up: the
// backoff must be cut short and the region meshed again within a
// handshake, not the rest of a backoff (a client homed on the restarted
// node would be unreachable from here meanwhile).
func TestRestartedPeerRedialledAtOnce(t *testing.T) {
	nodes := newRegion(t, 2)
	x, y := nodes[0], nodes[1]
	yPeer := `peer="` + "http://" + y.addr + `"`

	y.stop()
	// The connection lost, then four failed dials: x's wait is now
	// 0.8–2.4 s (1.6 s ± 50 %).
	waitMetric(t, x, `relayctl_mesh_reconnects{`+yPeer+`} 5`)
	y.start()
	waitMetricWithin(t, x, `relayctl_mesh_peer_connected{`+yPeer+`} 1`, 500*time.Millisecond)
}
