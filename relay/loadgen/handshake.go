package loadgen

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/relayctl/relayctl/relay/key"
)

// HandshakeConfig describes a connection-rate run: Parallel workers that
// each connect, complete the DERP handshake and disconnect, over and over.
type HandshakeConfig struct {
	Target
	Duration         time.Duration
	Parallel         int
	Progress         func(Progress)
	ProgressInterval time.Duration
}

// HandshakeResult is a connection-rate run's outcome. A handshake is the
// TCP connect, the HTTP upgrade and the DERP key exchange up to ServerInfo.
type HandshakeResult struct {
	Parallel            int      `json:"parallel"`
	Seconds             float64  `json:"duration_seconds"`
	Handshakes          uint64   `json:"handshakes"`
	Failures            uint64   `json:"failures"`
	LastError           string   `json:"last_error,omitempty"`
	HandshakesPerSecond float64  `json:"handshakes_per_second"`
	Time                *Latency `json:"handshake_time"` // Lost counts failures
	// Server is set when Target.ServerPID is.
	Server                       *ProcessUsage `json:"server,omitempty"`
	HandshakesPerServerCPUSecond float64       `json:"handshakes_per_server_cpu_second,omitempty"`
	Generator                    ProcessUsage  `json:"generator"`
}

// keysPerWorker is how many identities each worker cycles through, so that
// a key reconnects only long after its previous connection closed and the
// relay never sees two connections of one key at once.
const keysPerWorker = 8

// attemptTimeout bounds one connect-and-handshake; failureBackoff is the
// pause after a failed one.
const (
	attemptTimeout = 10 * time.Second
	failureBackoff = 10 * time.Millisecond
)

func (c HandshakeConfig) withDefaults() (HandshakeConfig, error) {
	if c.Duration == 0 {
		c.Duration = DefaultDuration
	}
	if c.Parallel == 0 {
		c.Parallel = DefaultParallel
	}
	if c.ProgressInterval == 0 {
		c.ProgressInterval = DefaultProgressInterval
	}
	switch {
	case c.Duration < 0:
		return c, fmt.Errorf("duration %v: want a positive duration", c.Duration)
	case c.Parallel < 1:
		return c, fmt.Errorf("parallel %d: want at least 1", c.Parallel)
	}
	return c, nil
}

// RunHandshakes connects and disconnects for Duration. Connections end
// with a TCP reset (see conn.abort).
func RunHandshakes(ctx context.Context, cfg HandshakeConfig) (*HandshakeResult, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	d, err := newDialer(cfg.Target)
	if err != nil {
		return nil, err
	}
	keys := make([]key.NodePrivate, cfg.Parallel*keysPerWorker)
	for i := range keys {
		keys[i] = key.NewNode()
	}
	meter, err := startCPUMeter(cfg.ServerPID)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	deadline := start.Add(cfg.Duration)
	var done, failed atomic.Uint64
	var mu sync.Mutex
	var times []time.Duration
	var lastErr error
	var wg sync.WaitGroup
	for w := range cfg.Parallel {
		wg.Go(func() {
			var mine []time.Duration
			for i := 0; time.Now().Before(deadline) && ctx.Err() == nil; i++ {
				priv := keys[w*keysPerWorker+i%keysPerWorker]
				t0 := time.Now()
				actx, cancel := context.WithTimeout(ctx, attemptTimeout)
				c, err := d.dial(actx, priv, smallReadBuffer)
				cancel()
				if err != nil {
					failed.Add(1)
					mu.Lock()
					lastErr = err
					mu.Unlock()
					// A relay refusing connections fails fast; don't
					// spin on it.
					time.Sleep(failureBackoff)
					continue
				}
				mine = append(mine, time.Since(t0))
				c.abort()
				done.Add(1)
			}
			mu.Lock()
			times = append(times, mine...)
			mu.Unlock()
		})
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	tick := time.NewTicker(cfg.ProgressInterval)
	defer tick.Stop()
	last, lastAt := uint64(0), start
wait:
	for {
		select {
		case <-finished:
			break wait
		case now := <-tick.C:
			n := done.Load()
			if cfg.Progress != nil {
				cfg.Progress(Progress{Phase: "measuring", Elapsed: now.Sub(start), Total: cfg.Duration, Count: n, Rate: float64(n-last) / now.Sub(lastAt).Seconds()})
			}
			last, lastAt = n, now
		}
	}
	seconds := time.Since(start).Seconds()
	server, generator, err := meter.stop()
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, context.Cause(ctx)
	}
	res := &HandshakeResult{
		Parallel:            cfg.Parallel,
		Seconds:             seconds,
		Handshakes:          done.Load(),
		Failures:            failed.Load(),
		HandshakesPerSecond: float64(done.Load()) / seconds,
		Time:                summarize(times, len(times)+int(failed.Load())),
		Generator:           ProcessUsage{CPUUsage: generator},
	}
	res.Generator.RSSBytes, _ = ProcessRSS(0)
	if lastErr != nil {
		res.LastError = lastErr.Error()
	}
	if server != nil {
		res.Server = &ProcessUsage{CPUUsage: *server}
		res.Server.RSSBytes, _ = ProcessRSS(cfg.ServerPID)
		res.HandshakesPerServerCPUSecond = rateIf(float64(res.Handshakes), server.Seconds)
	}
	if res.Handshakes == 0 {
		return res, fmt.Errorf("no handshake succeeded in %v: %v", cfg.Duration, lastErr)
	}
	return res, nil
}
