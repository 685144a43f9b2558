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
// Start from DefaultHandshakeConfig.
type HandshakeConfig struct {
	Target
	Duration time.Duration
	Parallel int
	// Progress, when set, is called every ProgressInterval (0: never).
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

// RunHandshakes connects and disconnects for Duration. Connections end
// with a TCP reset (see conn.abort).
func RunHandshakes(ctx context.Context, cfg HandshakeConfig) (*HandshakeResult, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	d, err := newDialer(cfg.Target)
	if err != nil {
		return nil, err
	}
	meter, err := startCPUMeter(cfg.ServerPID)
	if err != nil {
		return nil, err
	}
	h := &handshakeRun{cfg: cfg, dialer: d, start: time.Now()}
	h.run(ctx)
	seconds := time.Since(h.start).Seconds()
	server, generator, err := meter.stop()
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, context.Cause(ctx)
	}
	res := h.result(seconds, server, generator)
	if res.Handshakes == 0 {
		return res, fmt.Errorf("no handshake succeeded in %v: %v", cfg.Duration, h.lastErr)
	}
	return res, nil
}

// handshakeRun is one RunHandshakes: its workers' shared tallies.
type handshakeRun struct {
	cfg    HandshakeConfig
	dialer *dialer
	start  time.Time

	done, failed atomic.Uint64
	mu           sync.Mutex
	times        []time.Duration // of the handshakes done
	lastErr      error
}

// run runs the workers until Duration has passed, reporting progress.
func (h *handshakeRun) run(ctx context.Context) {
	deadline := h.start.Add(h.cfg.Duration)
	var wg sync.WaitGroup
	for range h.cfg.Parallel {
		keys := make([]key.NodePrivate, keysPerWorker)
		for i := range keys {
			keys[i] = key.NewNode()
		}
		wg.Go(func() { h.work(ctx, keys, deadline) })
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	reportUntil(finished, h.cfg.ProgressInterval, h.done.Load, func(elapsed time.Duration, n uint64, rate float64) {
		if h.cfg.Progress != nil {
			h.cfg.Progress(Progress{Phase: "measuring", Elapsed: elapsed, Total: h.cfg.Duration, Count: n, Rate: rate})
		}
	})
}

// work is one worker: handshakes until deadline, cycling through keys.
func (h *handshakeRun) work(ctx context.Context, keys []key.NodePrivate, deadline time.Time) {
	var mine []time.Duration
	for i := 0; time.Now().Before(deadline) && ctx.Err() == nil; i++ {
		t0 := time.Now()
		actx, cancel := context.WithTimeout(ctx, attemptTimeout)
		c, err := h.dialer.dial(actx, keys[i%len(keys)], smallReadBuffer)
		cancel()
		if err != nil {
			h.failed.Add(1)
			h.mu.Lock()
			h.lastErr = err
			h.mu.Unlock()
			// A relay refusing connections fails fast; don't spin on it.
			time.Sleep(failureBackoff)
			continue
		}
		mine = append(mine, time.Since(t0))
		c.abort()
		h.done.Add(1)
	}
	h.mu.Lock()
	h.times = append(h.times, mine...)
	h.mu.Unlock()
}

func (h *handshakeRun) result(seconds float64, server *CPUUsage, generator CPUUsage) *HandshakeResult {
	res := &HandshakeResult{
		Parallel:            h.cfg.Parallel,
		Seconds:             seconds,
		Handshakes:          h.done.Load(),
		Failures:            h.failed.Load(),
		HandshakesPerSecond: float64(h.done.Load()) / seconds,
		Time:                summarize(h.times, len(h.times)+int(h.failed.Load())),
		Generator:           ProcessUsage{CPUUsage: generator},
	}
	res.Generator.RSSBytes, _ = ProcessRSS(0)
	if h.lastErr != nil {
		res.LastError = h.lastErr.Error()
	}
	if server != nil {
		res.Server = &ProcessUsage{CPUUsage: *server}
		res.Server.RSSBytes, _ = ProcessRSS(h.cfg.ServerPID)
		res.HandshakesPerServerCPUSecond = rateIf(float64(res.Handshakes), server.Seconds)
	}
	return res
}
