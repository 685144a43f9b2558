package loadgen

import (
	"errors"
	"net"
	"sync/atomic"
	"time"

	"github.com/relayctl/relayctl/relay/client"
	"github.com/relayctl/relayctl/relay/key"
	"github.com/relayctl/relayctl/relay/wire"
)

// lossTimeout is how long a closed-loop sender with a full window waits
// for any delivery before it counts what is in flight as lost and sends
// again; without it one dropped packet would shrink the window for good.
const lossTimeout = 250 * time.Millisecond

// pair is one sender relaying to one receiver. Flow control never touches
// the relay: the receiver counts deliveries in shared memory and wakes the
// sender, which keeps at most window packets unaccounted for.
type pair struct {
	sender, receiver *conn
	batch            frameBatch
	size             int
	// fanout is how many frames go out per packet counted: 1, or 2 for
	// the mixed sender, whose every packet to its receiver is followed by
	// one to the receiver that will stall (see ThroughputConfig.MixedStall).
	fanout int

	// Each counter has its own cache line: sender and receiver may run on
	// different cores and write them constantly.
	sent      atomic.Uint64
	_         [56]byte
	delivered atomic.Uint64
	_         [56]byte
	malformed atomic.Uint64 // packets of the wrong size or source

	wake  chan struct{} // receiver → waiting sender; capacity 1, never blocks
	stall atomic.Bool   // the receiver stops reading (see ThroughputConfig.StalledReceivers)
	// alsoWake is a stalled pair's wake channel when that pair's sender
	// is paced by this pair's deliveries (see acked); nil otherwise. Set
	// before the receiver starts.
	alsoWake chan struct{}
	pacedBy  *pair // for a stalled pair, the live pair it mirrors
	mirrored atomic.Pointer[mirrorBase]
}

// mirrorBase is where a stalled pair's acknowledgements switched from its
// own receiver to its pacing pair's.
type mirrorBase struct{ acked, pacerDelivered uint64 }

func newPair(sender, receiver *conn, size, window int) *pair {
	return newFanoutPair(sender, receiver, nil, size, window)
}

// newFanoutPair is a pair whose sender also sends, after each of its
// packets, one to other (when not nil). Only the receiver's packets are
// counted and flow-controlled.
func newFanoutPair(sender, receiver, other *conn, size, window int) *pair {
	dsts := []key.NodePublic{receiver.PublicKey()}
	if other != nil {
		dsts = append(dsts, other.PublicKey())
	}
	maxCount := window * len(dsts)
	if window <= 0 {
		maxCount = batchBytes // open loop: as many as fit
	}
	return &pair{
		sender:   sender,
		receiver: receiver,
		batch:    newFrameBatch(dsts, size, maxCount),
		size:     size,
		fanout:   len(dsts),
		wake:     make(chan struct{}, 1),
	}
}

// receiveOnly describes a receiver fed by another pair's sender (the mixed
// sender's second destination); it has no sender goroutine of its own.
func receiveOnly(sender, receiver *conn, size int) *pair {
	return &pair{sender: sender, receiver: receiver, batch: frameBatch{frameLen: wire.FrameHeaderLen + wire.KeyLen + size}, size: size, fanout: 1, wake: make(chan struct{}, 1)}
}

// receive counts packets until the connection closes. It signals the
// sender only when the read buffer runs dry (the next Recv will block),
// which is once per burst rather than once per packet.
func (p *pair) receive(stop <-chan struct{}) {
	src := p.sender.PublicKey()
	br := p.receiver.br
	frameLen := p.batch.frameLen
	for {
		m, err := p.receiver.Recv()
		if err != nil {
			return
		}
		if pkt, ok := m.(*client.ReceivedPacket); ok {
			if len(pkt.Data) == p.size && pkt.Source == src {
				p.delivered.Add(1)
			} else {
				p.malformed.Add(1)
			}
		}
		if br.Buffered() < frameLen {
			notify(p.wake)
			if p.alsoWake != nil {
				notify(p.alsoWake)
			}
		}
		if p.stall.Load() {
			<-stop
			return
		}
	}
}

func notify(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// acked counts the pair's packets as acknowledged: its receiver's
// deliveries, until the receiver stalls. From then on a packet counts as
// acknowledged whenever the pacing live pair delivers one, so the sender
// keeps sending at exactly a live pair's rate, as a real peer keeps
// talking to one that has stopped reading.
func (p *pair) acked() uint64 {
	if m := p.mirrored.Load(); m != nil {
		return m.acked + p.pacedBy.delivered.Load() - m.pacerDelivered
	}
	return p.delivered.Load()
}

// stallReceiver makes the receiver stop reading and hands pacing over to
// pacedBy.
func (p *pair) stallReceiver() {
	if p.pacedBy != nil {
		p.mirrored.Store(&mirrorBase{acked: p.delivered.Load(), pacerDelivered: p.pacedBy.delivered.Load()})
	}
	p.stall.Store(true)
}

// sendClosedLoop keeps up to window packets in flight until stop closes.
func (p *pair) sendClosedLoop(stop <-chan struct{}, window int) error {
	tick := time.NewTicker(lossTimeout)
	defer tick.Stop()
	sent := p.sent.Load() // counts the priming packet
	var writtenOff, lastDelivered uint64
	for {
		select {
		case <-stop:
			return nil
		default:
		}
		// Packets written off may still arrive, late; they free no
		// extra room.
		inFlight := max(0, int64(sent)-int64(p.acked())-int64(writtenOff))
		free := window - int(inFlight)
		if free <= 0 {
			select {
			case <-stop:
				return nil
			case <-p.wake:
			case <-tick.C:
				if d := p.acked(); d == lastDelivered {
					writtenOff = sent - d
				} else {
					lastDelivered = d
				}
			}
			continue
		}
		n := min(free, p.batch.count/p.fanout)
		// Count before writing: the receiver may see the packets before
		// write returns, and delivered must never run ahead of sent.
		sent += uint64(n)
		p.sent.Store(sent)
		if err := p.write(n * p.fanout); err != nil {
			return err
		}
	}
}

// sendOpenLoop writes full batches as fast as the connection takes them.
func (p *pair) sendOpenLoop(stop <-chan struct{}) error {
	sent := p.sent.Load()
	for {
		select {
		case <-stop:
			return nil
		default:
		}
		sent += uint64(p.batch.count / p.fanout)
		p.sent.Store(sent)
		if err := p.write(p.batch.count); err != nil {
			return err
		}
	}
}

func (p *pair) write(n int) error {
	_, err := p.sender.raw.Write(p.batch.frames(n))
	return err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// drainSender reads whatever the relay sends the sender (keepalives,
// PeerGone) so that its socket never fills.
func drainSender(c *conn) {
	for {
		if _, err := c.Recv(); err != nil {
			return
		}
	}
}
