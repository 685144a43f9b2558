package prober

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/relayctl/relayctl/internal/derpmap"
)

// deliveryResendInterval spaces the probe packets of one delivery check. A
// mesh route appears only once the sender's node has heard from its peer
// that the receiver connected, so the first packets may be dropped.
const deliveryResendInterval = 200 * time.Millisecond

// checkDelivery connects one client to from and one to to (the same node
// for the derp class), sends packets from the first to the second, which
// echoes them back, and reports the round trip of the first packet to
// return. A failure says which direction broke.
func (p *Prober) checkDelivery(from, to *derpmap.DERPNode) func(context.Context, *Result) {
	return func(ctx context.Context, r *Result) {
		a, b, err := p.connectPair(ctx, from, to)
		if err != nil {
			fail(ctx, r, err)
			return
		}
		defer a.Close()
		defer b.Close()
		rtt, err := roundTrip(ctx, a, b)
		if err != nil {
			fail(ctx, r, err)
			return
		}
		r.Latency = rtt
		if from == to {
			r.Detail = "server " + a.c.ServerPublicKey().ShortString()
		} else {
			r.Detail = fmt.Sprintf("%s (%s) → %s (%s)", from.Name, a.c.ServerPublicKey().ShortString(), to.Name, b.c.ServerPublicKey().ShortString())
		}
	}
}

func roundTrip(ctx context.Context, a, b *derpPeer) (time.Duration, error) {
	sent := map[string]time.Time{}
	forward, backward := false, false
	tick := time.NewTicker(deliveryResendInterval)
	defer tick.Stop()
	send := func() error {
		payload := make([]byte, 16)
		rand.Read(payload)
		payload[0] = roundTripMarker
		sent[string(payload)] = time.Now()
		return a.c.Send(b.c.PublicKey(), payload)
	}
	if err := send(); err != nil {
		return 0, fmt.Errorf("send on %s: %w", a.node.Name, err)
	}
	for {
		select {
		case <-tick.C:
			if err := send(); err != nil {
				return 0, fmt.Errorf("send on %s: %w", a.node.Name, err)
			}
		case pkt := <-b.pkts:
			if pkt.src != a.c.PublicKey() {
				continue
			}
			if _, ok := sent[string(pkt.data)]; !ok {
				return 0, fmt.Errorf("%s delivered a packet from %s with content we never sent", b.node.Name, a.node.Name)
			}
			forward = true
			if err := b.c.Send(a.c.PublicKey(), pkt.data); err != nil {
				return 0, fmt.Errorf("send reply on %s: %w", b.node.Name, err)
			}
		case pkt := <-a.pkts:
			if pkt.src != b.c.PublicKey() {
				continue
			}
			at, ok := sent[string(pkt.data)]
			if !ok {
				return 0, fmt.Errorf("%s delivered a reply from %s with content we never sent", a.node.Name, b.node.Name)
			}
			backward = true
			return pkt.at.Sub(at), nil
		case <-a.done:
			return 0, a.closedError()
		case <-b.done:
			return 0, b.closedError()
		case <-ctx.Done():
			switch {
			case !forward:
				return 0, fmt.Errorf("no packet from %s arrived at %s (%d sent)", a.node.Name, b.node.Name, len(sent))
			case !backward:
				return 0, fmt.Errorf("packets from %s arrived at %s, but no reply came back", a.node.Name, b.node.Name)
			}
			return 0, ctx.Err()
		}
	}
}

// First bytes that tell round-trip packets from bandwidth payload.
const (
	roundTripMarker = 0x01
	bandwidthMarker = 0xb5
)

// bandwidthWindow is how many packets may be in flight, well under a
// relay's per-client queue of 32 so that none is dropped for queueing.
const bandwidthWindow = 16

// bandwidthChunk is the payload of each bandwidth packet: the largest a
// relay forwards.
const bandwidthChunk = 64 << 10

// checkBandwidth moves BandwidthSize bytes between two clients on n and
// reports the transfer time and throughput.
func (p *Prober) checkBandwidth(n *derpmap.DERPNode) func(context.Context, *Result) {
	return func(ctx context.Context, r *Result) {
		a, b, err := p.connectPair(ctx, n, n)
		if err != nil {
			fail(ctx, r, err)
			return
		}
		defer a.Close()
		defer b.Close()
		// A round trip first: it proves the path, so the transfer timing
		// does not include route setup.
		if _, err := roundTrip(ctx, a, b); err != nil {
			fail(ctx, r, err)
			return
		}
		elapsed, err := transfer(ctx, a, b, p.cfg.BandwidthSize)
		if err != nil {
			fail(ctx, r, err)
			return
		}
		r.Latency = elapsed
		r.BytesPerSecond = float64(p.cfg.BandwidthSize) / elapsed.Seconds()
		r.Detail = fmt.Sprintf("%d bytes in %v: %s", p.cfg.BandwidthSize, elapsed.Round(time.Microsecond), formatRate(r.BytesPerSecond))
	}
}

func transfer(ctx context.Context, a, b *derpPeer, size int) (time.Duration, error) {
	chunk := bytes.Repeat([]byte{bandwidthMarker}, min(size, bandwidthChunk))
	start := time.Now()
	sentBytes, gotBytes, inFlight := 0, 0, 0
	for gotBytes < size {
		for inFlight < bandwidthWindow && sentBytes < size {
			n := min(len(chunk), size-sentBytes)
			if err := a.c.Send(b.c.PublicKey(), chunk[:n]); err != nil {
				return 0, fmt.Errorf("send on %s: %w", a.node.Name, err)
			}
			sentBytes += n
			inFlight++
		}
		select {
		case pkt := <-b.pkts:
			if pkt.src != a.c.PublicKey() {
				continue
			}
			if len(pkt.data) > 0 && pkt.data[0] != bandwidthMarker {
				continue // a late echo from the round trip
			}
			gotBytes += len(pkt.data)
			inFlight--
		case <-b.done:
			return 0, b.closedError()
		case <-ctx.Done():
			return 0, fmt.Errorf("received %d of %d bytes: %w", gotBytes, size, errors.New("transfer incomplete"))
		}
	}
	return time.Since(start), nil
}

func formatRate(bps float64) string {
	switch {
	case bps >= 1e9:
		return fmt.Sprintf("%.2f GB/s", bps/1e9)
	case bps >= 1e6:
		return fmt.Sprintf("%.2f MB/s", bps/1e6)
	case bps >= 1e3:
		return fmt.Sprintf("%.2f kB/s", bps/1e3)
	}
	return fmt.Sprintf("%.0f B/s", bps)
}
