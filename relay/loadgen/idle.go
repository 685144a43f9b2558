package loadgen

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/relayctl/relayctl/relay/client"
	"github.com/relayctl/relayctl/relay/key"
	"github.com/relayctl/relayctl/relay/wire"
)

// IdleConfig describes a memory run: Clients connections that complete
// the handshake and then stay silent. Start from DefaultIdleConfig; a zero
// duration means off.
type IdleConfig struct {
	Target
	Clients  int
	Parallel int           // handshakes in progress at once
	Settle   time.Duration // wait after the last connect before reading memory
	// Exchange makes every client, once all are connected, send one
	// disco-sized packet (ExchangeSize bytes, disco's magic first) to the
	// next client and read the one sent to it, as real clients exchange
	// disco pings before going quiet; Settle then counts from the last
	// packet read. Without it the clients never send or receive.
	Exchange bool
	// ConnectTimeout plus ConnectTimePerClient for each client bounds
	// the connecting phase (and the exchange); both 0 leave it to ctx.
	ConnectTimeout       time.Duration
	ConnectTimePerClient time.Duration
	// Progress, when set, is called every ProgressInterval (0: never).
	Progress         func(Progress)
	ProgressInterval time.Duration
}

// connectBudget bounds connecting all the clients; 0 for no bound.
func (c IdleConfig) connectBudget() time.Duration {
	return c.ConnectTimeout + time.Duration(c.Clients)*c.ConnectTimePerClient
}

// IdleResult is a memory run's outcome. The per-client figure is the
// growth of the server's resident memory divided by the client count.
type IdleResult struct {
	Clients           int     `json:"clients"`
	Exchanged         bool    `json:"exchanged,omitempty"` // see IdleConfig.Exchange
	SettleSeconds     float64 `json:"settle_seconds"`
	ConnectSeconds    float64 `json:"connect_seconds"`
	ConnectsPerSecond float64 `json:"connects_per_second"`
	// Set when Target.ServerPID is:
	ServerRSSBefore    int64   `json:"server_rss_before_bytes,omitempty"`
	ServerRSSAfter     int64   `json:"server_rss_after_bytes,omitempty"`
	ServerRSSPerClient float64 `json:"server_rss_per_client_bytes,omitempty"`
	GeneratorRSS       int64   `json:"generator_rss_bytes"`
}

// RunIdle connects the clients, waits Settle, reads the server's memory
// and disconnects them all.
func RunIdle(ctx context.Context, cfg IdleConfig) (*IdleResult, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	d, err := newDialer(cfg.Target)
	if err != nil {
		return nil, err
	}
	res := &IdleResult{Clients: cfg.Clients, Exchanged: cfg.Exchange, SettleSeconds: cfg.Settle.Seconds()}
	if cfg.ServerPID != 0 {
		if res.ServerRSSBefore, err = ProcessRSS(cfg.ServerPID); err != nil {
			return nil, fmt.Errorf("server pid %d: %w", cfg.ServerPID, err)
		}
	}
	conns := make([]*conn, cfg.Clients)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.abort()
			}
		}
	}()
	start := time.Now()
	if err := connectIdle(ctx, d, conns, cfg); err != nil {
		return nil, err
	}
	res.ConnectSeconds = time.Since(start).Seconds()
	res.ConnectsPerSecond = rateIf(float64(cfg.Clients), res.ConnectSeconds)
	if cfg.Exchange {
		if err := exchange(ctx, conns, cfg); err != nil {
			return nil, err
		}
	}
	if err := sleepWithProgress(ctx, cfg.Settle, cfg.ProgressInterval, func(elapsed time.Duration) {
		if cfg.Progress != nil {
			cfg.Progress(Progress{Phase: "settling", Elapsed: elapsed, Total: cfg.Settle, Count: uint64(cfg.Clients)})
		}
	}); err != nil {
		return nil, err
	}
	if cfg.ServerPID != 0 {
		if res.ServerRSSAfter, err = ProcessRSS(cfg.ServerPID); err != nil {
			return nil, fmt.Errorf("server pid %d: %w", cfg.ServerPID, err)
		}
		res.ServerRSSPerClient = float64(res.ServerRSSAfter-res.ServerRSSBefore) / float64(cfg.Clients)
	}
	res.GeneratorRSS, _ = ProcessRSS(0)
	return res, nil
}

// connectIdle fills conns, cfg.Parallel dials at a time.
func connectIdle(ctx context.Context, d *dialer, conns []*conn, cfg IdleConfig) error {
	ctx, cancel := withTimeout(ctx, cfg.connectBudget())
	defer cancel()
	var next, connected atomic.Int64
	var firstErr error
	var errOnce sync.Once
	var wg sync.WaitGroup
	for range cfg.Parallel {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(conns) || ctx.Err() != nil {
					return
				}
				c, err := d.dial(ctx, key.NewNode(), smallReadBuffer)
				if err != nil {
					errOnce.Do(func() { firstErr = fmt.Errorf("client %d of %d: %w", i+1, len(conns), err) })
					cancel()
					return
				}
				conns[i] = c
				connected.Add(1)
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	reportUntil(done, cfg.ProgressInterval, func() uint64 { return uint64(connected.Load()) }, func(elapsed time.Duration, n uint64, rate float64) {
		if cfg.Progress != nil {
			cfg.Progress(Progress{Phase: "connecting", Elapsed: elapsed, Count: n, Rate: rate})
		}
	})
	return firstErr
}

// ExchangeSize is the size of the packet each client sends with
// IdleConfig.Exchange: about a disco ping's.
const ExchangeSize = 100

// exchange has client i send one packet to client i+1 (the last to the
// first), then every client read its packet, cfg.Parallel at a time.
func exchange(ctx context.Context, conns []*conn, cfg IdleConfig) error {
	ctx, cancel := withTimeout(ctx, cfg.connectBudget())
	defer cancel()
	pkt := make([]byte, ExchangeSize)
	copy(pkt, wire.DiscoMagic)
	if cfg.Progress != nil {
		cfg.Progress(Progress{Phase: "exchanging", Count: uint64(len(conns))})
	}
	send := func(i int) error {
		return conns[i].Send(conns[(i+1)%len(conns)].PublicKey(), pkt)
	}
	recv := func(i int) error {
		c := conns[i]
		if deadline, ok := ctx.Deadline(); ok {
			c.raw.SetReadDeadline(deadline)
		}
		defer c.raw.SetReadDeadline(time.Time{})
		for {
			m, err := c.Recv()
			if err != nil {
				return err
			}
			if p, ok := m.(*client.ReceivedPacket); ok && len(p.Data) == ExchangeSize {
				return nil
			}
		}
	}
	for _, step := range []struct {
		what string
		do   func(int) error
	}{{"sending", send}, {"receiving", recv}} {
		if err := forEachClient(ctx, len(conns), cfg.Parallel, step.do); err != nil {
			return fmt.Errorf("exchanging packets, %s: %w", step.what, err)
		}
	}
	return nil
}

// forEachClient calls do(i) for every client, parallel at a time, and
// returns the first error.
func forEachClient(ctx context.Context, n, parallel int, do func(i int) error) error {
	var next atomic.Int64
	var firstErr error
	var errOnce sync.Once
	var wg sync.WaitGroup
	for range parallel {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := do(i); err != nil {
					errOnce.Do(func() { firstErr = fmt.Errorf("client %d of %d: %w", i+1, n, err) })
					next.Store(int64(n))
					return
				}
			}
		})
	}
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		return context.Cause(ctx)
	}
	return firstErr
}

// sleepWithProgress waits d, calling report every interval (0: never).
func sleepWithProgress(ctx context.Context, d, interval time.Duration, report func(elapsed time.Duration)) error {
	start := time.Now()
	end := time.NewTimer(d)
	defer end.Stop()
	ticks, stopTicks := progressTicks(interval)
	defer stopTicks()
	for {
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-end.C:
			return nil
		case now := <-ticks:
			report(now.Sub(start))
		}
	}
}

// reportUntil calls report every interval (0: never) with the time since
// it started, count's value and its rate since the last report, until done
// closes.
func reportUntil(done <-chan struct{}, interval time.Duration, count func() uint64, report func(elapsed time.Duration, n uint64, rate float64)) {
	ticks, stopTicks := progressTicks(interval)
	defer stopTicks()
	start := time.Now()
	last, lastAt := uint64(0), start
	for {
		select {
		case <-done:
			return
		case now := <-ticks:
			n := count()
			report(now.Sub(start), n, float64(n-last)/now.Sub(lastAt).Seconds())
			last, lastAt = n, now
		}
	}
}
