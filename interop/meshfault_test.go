package interop

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// TestMeshFaultSlowLink: the link from a to b gets 200 ms of latency each
// way and a 1 Mbit/s cap, and a sends 4 Mbit/s across it for 6 s.
// Forwarding keeps working at the link's rate, the excess is dropped at
// a's bounded forward queue and counted there (every packet is forwarded
// or counted dropped), a's memory stays flat, and the link's keepalive
// does not mistake the slow link for a dead one.
func TestMeshFaultSlowLink(t *testing.T) {
	t.Parallel()
	f := newFaultyMesh(t)
	a := f.a
	f.toxic(t, "cap", "bandwidth", "both", map[string]int64{"rate": 125}) // KB/s: 1 Mbit/s
	f.toxic(t, "delay", "latency", "both", map[string]int64{"latency": 200})
	deliver(t, f.sender, f.receiver, meshTimeout)
	before := a.health(t)
	reconnects := a.metric(t, f.series("relayctl_mesh_reconnects"))
	forwarded0 := a.metric(t, f.series("relayctl_mesh_packets_forwarded"))
	dropped0 := a.metric(t, f.series("relayctl_mesh_packets_dropped"))
	droppedB0 := f.b.metricSum(t, "derp_packets_dropped", true)

	const size, rate, load = 1000, 500, 6 * time.Second // 4 Mbit/s
	arrived := countArrivals(f.receiver, "load#", size)
	stop := make(chan struct{})
	sentc := make(chan int, 1)
	go func() { sentc <- f.send("load#", size, rate, stop) }()
	var peak health
	for end := time.Now().Add(load); time.Now().Before(end); time.Sleep(500 * time.Millisecond) {
		h := a.health(t)
		peak.goroutines, peak.rss = max(peak.goroutines, h.goroutines), max(peak.rss, h.rss)
	}
	close(stop)
	stopped := time.Now()
	sent := <-sentc

	// Every packet a read is forwarded or dropped once the queue drains.
	var forwarded, dropped float64
	waitUntil(t, 30*time.Second, "a's forward queue draining", func() error {
		forwarded = a.metric(t, f.series("relayctl_mesh_packets_forwarded")) - forwarded0
		dropped = a.metric(t, f.series("relayctl_mesh_packets_dropped")) - dropped0
		if int(forwarded+dropped) != sent {
			return fmt.Errorf("sent %d, forwarded %v + dropped %v", sent, forwarded, dropped)
		}
		return nil
	})
	waitUntil(t, 30*time.Second, "forwarded packets arriving", func() error {
		if got := arrived.n.Load(); got < int64(forwarded)-int64(f.b.metricSum(t, "derp_packets_dropped", true)-droppedB0) {
			return fmt.Errorf("%d of %v forwarded packets arrived (and b dropped %v)", got, forwarded, f.b.metricSum(t, "derp_packets_dropped", true)-droppedB0)
		}
		return nil
	})
	arrived.close()
	drain := time.Unix(0, arrived.last.Load()).Sub(stopped)
	got := arrived.n.Load()
	t.Logf("sent %d packets (%d B) in %v: %v forwarded, %v dropped at a's forward queue, %d arrived; last arrival %v after sending stopped",
		sent, size, load, forwarded, dropped, got, drain.Round(10*time.Millisecond))
	t.Logf("goodput %.0f kbit/s; a: goroutines %d → peak %d, RSS %d → peak %d MiB",
		float64(got*size*8)/(load+drain).Seconds()/1000, before.goroutines, peak.goroutines, before.rss>>20, peak.rss>>20)

	if got < int64(sent)/10 {
		t.Errorf("only %d of %d packets crossed the slow link", got, sent)
	}
	if bad := arrived.bad.Load(); bad > 0 {
		t.Errorf("%d packets arrived with the wrong length", bad)
	}
	if dropped == 0 {
		t.Errorf("4 Mbit/s into a 1 Mbit/s link dropped nothing: is a's queue unbounded?")
	}
	if peak.rss > before.rss+rssSlack {
		t.Errorf("a's RSS grew from %d to %d MiB while the link was saturated", before.rss>>20, peak.rss>>20)
	}
	if r := a.metric(t, f.series("relayctl_mesh_reconnects")); r != reconnects {
		t.Errorf("a reconnected its mesh link %v times on a slow but live link", r-reconnects)
	}
	deliver(t, f.sender, f.receiver, meshTimeout)
}

// TestMeshFaultBlackHole: the link from a to b goes silent (toxiproxy's
// timeout toxic with no timeout: bytes vanish, no RST, no FIN), in both
// directions or only from a to b (half-open: b's frames still reach a).
// a gives the link up within the keepalive bound, relayctl probe reports
// the broken pair (a->b, and b->a whose reply crosses a→b) while it lasts, a's goroutines and
// memory stay bounded while it redials through the hole, and forwarding
// resumes within 2 s of the link healing.
func TestMeshFaultBlackHole(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, stream string
		outage       time.Duration
	}{
		{"both_ways", "both", *meshBlackHole},
		{"half_open", "upstream", 12 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFaultyMesh(t)
			a := f.a
			before := a.health(t)
			reconnects := a.metric(t, f.series("relayctl_mesh_reconnects"))
			// Traffic goes on during the outage: 20 packets/s.
			stop := make(chan struct{})
			var trickle sync.WaitGroup
			trickle.Go(func() { f.send("trickle#", 200, 20, stop) })
			defer func() { close(stop); trickle.Wait() }()

			heal := f.toxic(t, "hole", "timeout", tc.stream, map[string]int64{"timeout": 0})
			defer heal()
			silent := time.Now()
			waitUntil(t, deadLinkBound, "a giving up the silent link", func() error {
				if a.metric(t, f.series("relayctl_mesh_reconnects")) == reconnects {
					return fmt.Errorf("a still counts the link up")
				}
				return nil
			})
			detected := time.Since(silent)

			// relayctl probe runs while the link is down; a's health is
			// sampled meanwhile, until the outage has lasted its time.
			probed := make(chan probeReport, 1)
			go func() { probed <- f.probe(t) }()
			var peak health
			var rep *probeReport
			for rep == nil || time.Since(silent) < tc.outage {
				h := a.health(t)
				peak.goroutines, peak.rss = max(peak.goroutines, h.goroutines), max(peak.rss, h.rss)
				select {
				case r := <-probed:
					rep = &r
				case <-time.After(500 * time.Millisecond):
				}
			}
			f.checkProbe(t, *rep)
			redials := a.metric(t, f.series("relayctl_mesh_reconnects")) - reconnects
			heal()
			healed := time.Now()
			resume := f.resumeAfter(t, healed, 10*time.Second)
			t.Logf("outage %v: link given up after %v, reconnects counted %v; forwarding resumed %v after healing; a: goroutines %d → peak %d, RSS %d → peak %d MiB",
				healed.Sub(silent).Round(100*time.Millisecond), detected.Round(10*time.Millisecond), redials,
				resume.Round(10*time.Millisecond), before.goroutines, peak.goroutines, before.rss>>20, peak.rss>>20)
			if resume > resumeBound {
				t.Errorf("forwarding resumed %v after the link healed, want within %v", resume, resumeBound)
			}
			if peak.goroutines > before.goroutines+goroutineSlack || peak.rss > before.rss+rssSlack {
				t.Errorf("a grew during the outage: goroutines %d → %d, RSS %d → %d MiB",
					before.goroutines, peak.goroutines, before.rss>>20, peak.rss>>20)
			}
			// The hung redials end at their timeout, the rest at once.
			waitUntil(t, 15*time.Second, "a's goroutines back to where they were", func() error {
				if g := a.health(t).goroutines; g > before.goroutines+5 {
					return fmt.Errorf("%d goroutines, %d before the outage", g, before.goroutines)
				}
				return nil
			})
		})
	}
}

// TestMeshFaultResetMidFrame: while a forwards a steady load, the link
// is cut in the middle of frames: toxiproxy's reset_peer (RST 300 ms into
// every connection) and limit_data (FIN after 64 KiB a→b). Each cut ends
// one mesh session; a redials at once, b drops the torn frame with the
// connection and keeps serving, and once the cutting stops forwarding is
// back and neither node kept anything from the torn connections.
func TestMeshFaultResetMidFrame(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, typ string
		attrs     map[string]int64
	}{
		{"reset_peer", "reset_peer", map[string]int64{"timeout": 300}},
		{"limit_data", "limit_data", map[string]int64{"bytes": 64 << 10}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFaultyMesh(t)
			a, b := f.a, f.b
			beforeA, beforeB := a.health(t), b.health(t)
			reconnects := a.metric(t, f.series("relayctl_mesh_reconnects"))
			arrived := countArrivals(f.receiver, "load#", 1000)
			stop := make(chan struct{})
			var load sync.WaitGroup
			load.Go(func() { f.send("load#", 1000, 200, stop) })

			cut := f.toxic(t, "cut", tc.typ, "upstream", tc.attrs)
			waitUntil(t, 20*time.Second, "three cuts", func() error {
				if r := a.metric(t, f.series("relayctl_mesh_reconnects")) - reconnects; r < 3 {
					return fmt.Errorf("%v reconnects", r)
				}
				return nil
			})
			cut()
			close(stop)
			load.Wait()
			arrived.close()
			if bad := arrived.bad.Load(); bad > 0 {
				t.Errorf("%d of %d packets arrived torn", bad, arrived.n.Load())
			}
			healed := time.Now()
			resume := f.resumeAfter(t, healed, 10*time.Second)
			t.Logf("%v cuts; forwarding back %v after the cutting stopped", a.metric(t, f.series("relayctl_mesh_reconnects"))-reconnects,
				resume.Round(10*time.Millisecond))
			if resume > resumeBound {
				t.Errorf("forwarding resumed %v after the cutting stopped, want within %v", resume, resumeBound)
			}
			for _, n := range []struct {
				node   *regionNode
				before health
			}{{a, beforeA}, {b, beforeB}} {
				waitUntil(t, 15*time.Second, "goroutines back to where they were on "+n.node.name, func() error {
					if g := n.node.health(t).goroutines; g > n.before.goroutines+5 {
						return fmt.Errorf("%d goroutines, %d before", g, n.before.goroutines)
					}
					return nil
				})
			}
		})
	}
}
