package loadgen

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/relayctl/relayctl/relay/key"
)

type throughputRun struct {
	cfg    ThroughputConfig
	pairs  []*pair
	pinger *pinger
	conns  []*conn
	// With MixedStall: the mixed sender (paired with its own receiver)
	// and Z, the receiver that stalls.
	mixed, stuck *pair

	receivers *dialer // the receivers' node of a meshed run, or nil

	stop     chan struct{} // closes to stop senders, receivers and pinger
	stopOnce sync.Once
	senders  sync.WaitGroup

	sendErrMu  sync.Mutex
	sendErr    error
	sendFailed chan struct{} // closes at the first sender error
}

func (r *throughputRun) close() {
	r.stopOnce.Do(func() { close(r.stop) })
	for _, c := range r.conns {
		c.Close()
	}
}

func (r *throughputRun) connect(ctx context.Context, d *dialer) error {
	ctx, cancel := withTimeout(ctx, r.cfg.ConnectTimeout)
	defer cancel()
	r.progress(Progress{Phase: "connecting"})
	pings := 0
	if r.cfg.PingInterval > 0 {
		pings = 2
	}
	n := 2*r.cfg.Pairs + pings
	if r.cfg.MixedStall {
		n += 3 // sender, its receiver, Z
	}
	conns := make([]*conn, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range conns {
		buf := bulkReadBuffer
		sender := i < 2*r.cfg.Pairs && i%2 == 0 || i == 2*r.cfg.Pairs+pings
		if sender || i >= 2*r.cfg.Pairs && i < 2*r.cfg.Pairs+pings {
			buf = pingReadBuffer // senders read only keepalives; pings are small
		}
		wg.Go(func() { conns[i], errs[i] = r.dialerFor(i, d).dial(ctx, key.NewNode(), buf) })
	}
	wg.Wait()
	for _, c := range conns {
		if c != nil {
			r.conns = append(r.conns, c)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("connecting %d clients: %w", n, err)
	}
	for i := range r.cfg.Pairs {
		window := r.cfg.Window
		if r.cfg.OpenLoop {
			window = 0
		}
		r.pairs = append(r.pairs, newPair(conns[2*i], conns[2*i+1], r.cfg.PacketSize, window))
	}
	for i, p := range r.pairs[:r.cfg.StalledReceivers] {
		live := r.pairs[r.cfg.StalledReceivers+i%(r.cfg.Pairs-r.cfg.StalledReceivers)]
		p.pacedBy, live.alsoWake = live, p.wake
	}
	extra := conns[2*r.cfg.Pairs:]
	if r.cfg.PingInterval > 0 {
		r.pinger = &pinger{from: extra[0], echo: extra[1], interval: r.cfg.PingInterval}
		extra = extra[2:]
	}
	if r.cfg.MixedStall {
		window := r.cfg.Window
		if r.cfg.OpenLoop {
			window = 0
		}
		r.mixed = newFanoutPair(extra[0], extra[1], extra[2], r.cfg.PacketSize, window)
		r.stuck = receiveOnly(extra[0], extra[2], r.cfg.PacketSize)
		go r.stuck.receive(r.stop)
	}
	for _, p := range r.senderPairs() {
		go p.receive(r.stop)
		go drainSender(p.sender)
	}
	return r.prime(ctx)
}

// pingReadBuffer serves connections that read only small frames.
const pingReadBuffer = 16 << 10

// prime sends one packet per pair until each has arrived: the relay may
// answer the handshake a moment before it routes to the new client.
func (r *throughputRun) prime(ctx context.Context) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		waiting := 0
		for _, p := range r.senderPairs() {
			if p.delivered.Load() > 0 {
				continue
			}
			waiting++
			if err := p.write(1); err != nil {
				return fmt.Errorf("first packet of a pair: %w", err)
			}
			p.sent.Add(1)
		}
		if waiting == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d of %d pairs delivered no packet: %w", waiting, len(r.senderPairs()), context.Cause(ctx))
		case <-tick.C:
		}
	}
}

// senderPairs are the pairs with a sender goroutine: the pairs and the
// mixed sender.
func (r *throughputRun) senderPairs() []*pair {
	if r.mixed == nil {
		return r.pairs
	}
	return append(r.pairs[:len(r.pairs):len(r.pairs)], r.mixed)
}

func (r *throughputRun) startSender(p *pair) {
	r.senders.Go(func() {
		var err error
		if r.cfg.OpenLoop {
			err = p.sendOpenLoop(r.stop)
		} else {
			err = p.sendClosedLoop(r.stop, r.cfg.Window)
		}
		if err != nil && !isTimeout(err) {
			r.sendErrMu.Lock()
			if r.sendErr == nil {
				close(r.sendFailed)
			}
			r.sendErr = errors.Join(r.sendErr, fmt.Errorf("sender: %w", err))
			r.sendErrMu.Unlock()
		}
	})
}

// senderGrace is how long senders may take to finish a write in progress
// before their writes are cut short.
const senderGrace = time.Second

func (r *throughputRun) stopSenders() error {
	r.stopOnce.Do(func() { close(r.stop) })
	done := make(chan struct{})
	go func() { r.senders.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(senderGrace):
		for _, p := range r.senderPairs() {
			p.sender.raw.SetWriteDeadline(aLongTimeAgo)
		}
		<-done
	}
	return r.sendError()
}

func (r *throughputRun) sendError() error {
	r.sendErrMu.Lock()
	defer r.sendErrMu.Unlock()
	return r.sendErr
}

var aLongTimeAgo = time.Unix(1, 0)
