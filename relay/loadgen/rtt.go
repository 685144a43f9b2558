package loadgen

import (
	"encoding/binary"
	"slices"
	"sync"
	"time"

	"github.com/relayctl/relayctl/relay/client"
)

// pingRing is how many outstanding pings are remembered; a reply older
// than that is ignored.
const pingRing = 1024

// pingPacketLen is a ping's size: its sequence number and padding. The
// first byte of a big-endian sequence number is zero for the first 2^56
// pings, so no relay mistakes it for disco.
const pingPacketLen = 64

// pinger times round trips pinger → relay → echoer → relay → pinger at a
// low, fixed rate on its own pair of connections, while the load runs on
// the others. Samples are grouped in phases (idle, under load).
type pinger struct {
	from, echo *conn
	interval   time.Duration

	mu      sync.Mutex
	seq     uint64
	sentAt  [pingRing]time.Time
	sentSeq [pingRing]uint64
	samples []time.Duration
	sent    int // in this phase
}

// Latency summarises round-trip times of one phase, in milliseconds.
type Latency struct {
	Samples int     `json:"samples"`
	Lost    int     `json:"lost"`
	P50     float64 `json:"p50_ms"`
	P90     float64 `json:"p90_ms"`
	P99     float64 `json:"p99_ms"`
	Max     float64 `json:"max_ms"`
}

func (p *pinger) run(stop <-chan struct{}) {
	go p.echoLoop()
	go p.replyLoop()
	tick := time.NewTicker(p.interval)
	defer tick.Stop()
	var pkt [pingPacketLen]byte
	dst := p.echo.PublicKey()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		p.mu.Lock()
		p.seq++
		seq := p.seq
		p.sentSeq[seq%pingRing] = seq
		p.sentAt[seq%pingRing] = time.Now()
		p.sent++
		p.mu.Unlock()
		binary.BigEndian.PutUint64(pkt[:], seq)
		if err := p.from.Send(dst, pkt[:]); err != nil {
			return
		}
	}
}

// echoLoop sends every packet back where it came from.
func (p *pinger) echoLoop() {
	for {
		m, err := p.echo.Recv()
		if err != nil {
			return
		}
		if pkt, ok := m.(*client.ReceivedPacket); ok {
			if err := p.echo.Send(pkt.Source, pkt.Data); err != nil {
				return
			}
		}
	}
}

func (p *pinger) replyLoop() {
	for {
		m, err := p.from.Recv()
		if err != nil {
			return
		}
		pkt, ok := m.(*client.ReceivedPacket)
		if !ok || len(pkt.Data) != pingPacketLen {
			continue
		}
		now := time.Now()
		seq := binary.BigEndian.Uint64(pkt.Data)
		p.mu.Lock()
		if p.sentSeq[seq%pingRing] == seq && !p.sentAt[seq%pingRing].IsZero() {
			p.samples = append(p.samples, now.Sub(p.sentAt[seq%pingRing]))
			p.sentAt[seq%pingRing] = time.Time{} // a duplicate counts once
		}
		p.mu.Unlock()
	}
}

// pingGrace is how old an unanswered ping must be at the end of a phase
// to count as lost; younger ones may simply still be on their way.
const pingGrace = 500 * time.Millisecond

// endPhase summarises the samples since the last call and starts afresh.
// Pings still in flight at the boundary count as lost if they are older
// than pingGrace, are left out otherwise, and are ignored if they arrive
// later.
func (p *pinger) endPhase() *Latency {
	now := time.Now()
	p.mu.Lock()
	samples, sent := p.samples, p.sent
	for _, at := range p.sentAt {
		if !at.IsZero() && now.Sub(at) < pingGrace {
			sent--
		}
	}
	p.samples, p.sent = nil, 0
	clear(p.sentAt[:])
	p.mu.Unlock()
	return summarize(samples, sent)
}

func summarize(samples []time.Duration, sent int) *Latency {
	l := &Latency{Samples: len(samples), Lost: max(0, sent-len(samples))}
	if len(samples) == 0 {
		return l
	}
	slices.Sort(samples)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	l.P50 = ms(percentile(samples, 50))
	l.P90 = ms(percentile(samples, 90))
	l.P99 = ms(percentile(samples, 99))
	l.Max = ms(samples[len(samples)-1])
	return l
}

// percentile is the nearest-rank percentile of sorted samples.
func percentile(sorted []time.Duration, pct int) time.Duration {
	rank := (pct*len(sorted) + 99) / 100 // ceil(pct/100 × n)
	return sorted[max(rank, 1)-1]
}
