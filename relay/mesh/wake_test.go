package mesh

import (
	"strconv"
	"strings"
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

// TestLostPeerRedialStillBacksOff: watchers that arrived while the
// session was up are old news when it breaks. The first redial still
// waits its jittered backoff (so a region's nodes do not all hit a
// restarting peer at the same moment).
func TestLostPeerRedialStillBacksOff(t *testing.T) {
	nodes := newRegion(t, 3) // y's and z's watchers arrive at x while its sessions run
	x, y := nodes[0], nodes[1]
	series := `relayctl_mesh_reconnects{peer="` + "http://" + y.addr + `"} `
	reconnects := func() int {
		var b strings.Builder
		x.srv.Metrics().WritePrometheus(&b)
		for line := range strings.Lines(b.String()) {
			if v, ok := strings.CutPrefix(line, series); ok {
				n, _ := strconv.Atoi(strings.TrimSpace(v))
				return n
			}
		}
		return 0
	}

	base := reconnects() // start-up failures, before y was listening
	// x loses y after this moment and must then wait at least 50 ms (half
	// its first backoff) before it tries again, however late we look.
	before := time.Now()
	y.stop()
	waitFor(t, "x's first redial of y failing", func() bool { return reconnects() >= base+2 })
	if d := time.Since(before); d < 45*time.Millisecond {
		t.Fatalf("x lost y and had already failed to redial it %v after y stopped; want its backoff (at least 50 ms) first", d)
	}
}
