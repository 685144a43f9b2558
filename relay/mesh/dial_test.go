package mesh

import (
	"sync/atomic"
	"testing"
	"time"
)

// TestRedialDoesNotWaitForAHungAttempt: the first attempt to reach b
// hangs (its handshake is lost). A second attempt starts HedgeInterval
// later and connects, instead of the mesh waiting out the hung attempt's
// 10 s timeout. (Before hedging the peer connected only after 10 s.)
func TestRedialDoesNotWaitForAHungAttempt(t *testing.T) {
	a, b := startPair(t, nil)
	proxy := newTestProxy(t, b.addr, func(i int) bool { return i == 0 })
	start := time.Now()
	meshThrough(t, a, b, proxy.addr(), func(m *Mesh) { m.hedgeInterval = 200 * time.Millisecond })
	waitMetricWithin(t, a, `relayctl_mesh_peer_connected{peer="b"} 1`, 3*time.Second)
	t.Logf("connected after %v with the first attempt hung", time.Since(start).Round(time.Millisecond))
	deliverEventually(t, dial(t, a), dial(t, b), "through the second attempt")
}

// TestRedialAfterABlackHoleHeals: for 2 s every attempt to reach b hangs
// (many dial rounds, each timing out). Hung rounds do not grow the
// backoff, so once the path heals the mesh connects within a hedge
// interval or so. (With the backoff doubling on every failure it had
// grown to its 5 s cap, and the mesh took up to 7.5 s to try again.)
func TestRedialAfterABlackHoleHeals(t *testing.T) {
	a, b := startPair(t, nil)
	var healed atomic.Bool
	proxy := newTestProxy(t, b.addr, func(int) bool { return !healed.Load() })
	meshThrough(t, a, b, proxy.addr(), func(m *Mesh) {
		m.hedgeInterval, m.dialTimeout = 100*time.Millisecond, 200*time.Millisecond
	})
	waitMetricWithin(t, a, `relayctl_mesh_reconnects{peer="b"} 6`, 10*time.Second)
	healed.Store(true)
	start := time.Now()
	waitMetricWithin(t, a, `relayctl_mesh_peer_connected{peer="b"} 1`, time.Second)
	t.Logf("connected %v after the path healed", time.Since(start).Round(time.Millisecond))
}
