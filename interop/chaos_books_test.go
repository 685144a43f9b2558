package interop

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// The chaos soak's books: what the clients counted against what the
// relays counted.

// chaosReport is the run's books.
type chaosReport struct {
	sent, delivered, dropped    int64
	byReason                    map[string]int64
	unexplained                 int64
	restartWindowSent, sendErrs int64
	sentToLeaving               int64
}

func (run *chaosRun) report() chaosReport {
	rep := chaosReport{byReason: map[string]int64{}}
	for _, s := range append(run.slots, run.flooder) {
		rep.sent += int64(s.seq.Load())
		s.mu.Lock()
		for _, w := range s.seen {
			rep.delivered += int64(popcount(w))
		}
		s.mu.Unlock()
	}
	run.mu.Lock()
	for reason, n := range run.drops {
		if n != 0 {
			rep.byReason[reason] = n
			rep.dropped += n
		}
	}
	run.mu.Unlock()
	rep.unexplained = rep.sent - rep.delivered - rep.dropped
	rep.restartWindowSent = run.restartWindowSent.Load()
	rep.sendErrs = run.sendErrs.Load()
	rep.sentToLeaving = run.sentToLeaving.Load()
	return rep
}

func popcount(w uint64) int {
	n := 0
	for ; w != 0; w &= w - 1 {
		n++
	}
	return n
}

// nodeBalance checks a quiet node's books: every packet that came in
// (from a client or a mesh peer) went out (to a client or a mesh peer)
// or was dropped, and nothing is queued.
func nodeBalance(ctx context.Context, base string) error {
	v := map[string]float64{}
	for _, name := range []string{"derp_packets_received", "derp_packets_forwarded_in", "derp_packets_sent", "derp_packets_forwarded_out", "relayctl_send_queue_packets"} {
		x, err := varzValue(ctx, base, name)
		if err != nil {
			return err
		}
		v[name] = x
	}
	drops, err := varzFamily(ctx, base, "derp_packets_dropped")
	if err != nil {
		return err
	}
	var dropped float64
	for _, n := range drops {
		dropped += n
	}
	in := v["derp_packets_received"] + v["derp_packets_forwarded_in"]
	out := v["derp_packets_sent"] + v["derp_packets_forwarded_out"] + dropped
	if in != out || v["relayctl_send_queue_packets"] != 0 {
		return fmt.Errorf("in %v (clients %v + mesh %v) ≠ out %v (clients %v + mesh %v + dropped %v), %v still queued",
			in, v["derp_packets_received"], v["derp_packets_forwarded_in"], out, v["derp_packets_sent"], v["derp_packets_forwarded_out"], dropped, v["relayctl_send_queue_packets"])
	}
	return nil
}

// varzFamily is every series of family name in /debug/varz, keyed by its
// label set ("{reason=\"x\",kind=\"y\"}").
func varzFamily(ctx context.Context, base, name string) (map[string]float64, error) {
	body, err := debugGet(ctx, base, "/debug/varz")
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for line := range strings.Lines(body) {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), name+"{")
		if !ok {
			continue
		}
		labels, value, ok := strings.Cut(rest, "} ")
		if !ok {
			return nil, fmt.Errorf("/debug/varz: odd line %q", line)
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return nil, fmt.Errorf("/debug/varz: %q: %w", line, err)
		}
		out["{"+labels+"}"] = v
	}
	return out, nil
}

// labelValue is the value of label name in a rendered label set.
func labelValue(labels, name string) string {
	_, rest, ok := strings.Cut(labels, name+`="`)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, `"`)
	return v
}
