package monitor

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/relayctl/relayctl/internal/derpmap"
	"github.com/relayctl/relayctl/internal/metrics"
	"github.com/relayctl/relayctl/probe/prober"
)

// Options configure continuous probing. DefaultOptions is the usual
// start; Prober and LoadMap are the caller's.
type Options struct {
	// Source names the DERP map for the status page.
	Source string
	// LoadMap fetches the map before each round. When it fails, the last
	// good map stays in use and the failure is shown and counted.
	LoadMap func(ctx context.Context) (*derpmap.DERPMap, error)
	Prober  *prober.Prober
	// Interval between the starts of rounds; it must be positive.
	Interval time.Duration
	// Run bounds each round. A probe's Timeout is at most 80% of
	// Interval, so a round ends before the next begins; 0 means that
	// much.
	Run prober.RunOptions
	// History is how many recent results the status page shows per
	// probe; 0 shows none.
	History int
	// Registry receives the metrics; nil means a private registry.
	Registry *metrics.Registry
	Logger   *slog.Logger
}

// Defaults of Options.
const (
	DefaultInterval = 15 * time.Second // how often a monitor probes the fleet
	DefaultHistory  = 20
)

// DefaultOptions probe every DefaultInterval with prober's
// DefaultRunOptions and keep DefaultHistory results per probe.
func DefaultOptions() Options {
	return Options{Interval: DefaultInterval, Run: prober.DefaultRunOptions(), History: DefaultHistory}
}

const (
	recentFailures  = 50 // failures kept for the status page
	staleAfterRound = 3  // /healthz fails after this many intervals without a round
)

// Monitor probes a DERP map every interval and keeps what it saw.
type Monitor struct {
	opts    Options
	metrics *probeMetrics
	logger  *slog.Logger
	started time.Time

	mu        sync.Mutex
	dm        *derpmap.DERPMap
	mapErr    string
	mapErrAt  time.Time
	probes    map[string]*probeHistory
	order     []string        // probe names in plan order
	failures  []prober.Result // newest last, at most recentFailures
	lastRound time.Time
	rounds    int
}

type probeHistory struct {
	last   prober.Result
	recent []prober.Result // oldest first, at most History
	hour   latencyWindow
}

// New returns a monitor; Run starts it. The interval must be positive.
func New(opts Options) (*Monitor, error) {
	if opts.Interval <= 0 {
		return nil, fmt.Errorf("monitor: interval %v: want a positive duration", opts.Interval)
	}
	if opts.Registry == nil {
		opts.Registry = metrics.NewRegistry()
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if cap := opts.Interval * 8 / 10; opts.Run.Timeout <= 0 || opts.Run.Timeout > cap {
		opts.Run.Timeout = cap
	}
	return &Monitor{
		opts:    opts,
		metrics: newProbeMetrics(opts.Registry),
		logger:  opts.Logger,
		started: time.Now(),
		probes:  map[string]*probeHistory{},
	}, nil
}

// Run probes immediately and then every Interval until ctx ends.
func (m *Monitor) Run(ctx context.Context) error {
	tick := time.NewTicker(m.opts.Interval)
	defer tick.Stop()
	for {
		m.runRound(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// runRound loads the map, runs every probe once and records the results.
func (m *Monitor) runRound(ctx context.Context) []prober.Result {
	dm, err := m.opts.LoadMap(ctx)
	m.mu.Lock()
	if err != nil {
		if m.mapErr != err.Error() {
			m.logger.Warn("DERP map load failed; keeping the previous map", "source", m.opts.Source, "err", err)
		}
		m.mapErr, m.mapErrAt = err.Error(), time.Now()
		m.metrics.mapErrors.Inc()
	} else {
		m.dm, m.mapErr = dm, ""
	}
	dm = m.dm
	m.mu.Unlock()
	if dm == nil {
		return nil
	}
	results := prober.RunAll(ctx, m.opts.Prober.Plan(dm), m.opts.Run)
	if ctx.Err() != nil {
		return results // a shutdown's "not run" results are not news
	}
	m.record(results)
	return results
}

func (m *Monitor) record(results []prober.Result) {
	m.mu.Lock()
	defer m.mu.Unlock()
	order := make([]string, 0, len(results))
	seen := map[string]bool{}
	for _, r := range results {
		order = append(order, r.Name)
		seen[r.Name] = true
		h := m.probes[r.Name]
		if h == nil {
			h = &probeHistory{}
			m.probes[r.Name] = h
		} else if h.last.Passed() != r.Passed() {
			m.logTransition(r)
		}
		if h.last.Name == "" && !r.Passed() {
			m.logTransition(r)
		}
		h.last = r
		h.recent = append(h.recent, r)
		h.hour.add(r)
		if len(h.recent) > m.opts.History {
			h.recent = slices.Delete(h.recent, 0, len(h.recent)-m.opts.History)
		}
		if !r.Passed() {
			m.failures = append(m.failures, r)
		}
		m.metrics.record(r)
	}
	if over := len(m.failures) - recentFailures; over > 0 {
		m.failures = slices.Delete(m.failures, 0, over)
	}
	// Probes of nodes that left the map leave the page too.
	for name := range m.probes {
		if !seen[name] {
			delete(m.probes, name)
		}
	}
	m.order = order
	m.lastRound = time.Now()
	m.rounds++
	m.metrics.rounds.Inc()
}

// logTransition logs a probe starting to fail or recovering: the events an
// operator acts on. Steady state stays quiet.
func (m *Monitor) logTransition(r prober.Result) {
	if r.Passed() {
		m.logger.Info("probe recovered", "probe", r.Name, "latency", r.Latency)
		return
	}
	m.logger.Warn("probe failed", "probe", r.Name, "err", r.Error)
}

// healthy reports whether the monitor itself is working: a round finished
// within the last few intervals (or it has only just started).
func (m *Monitor) healthy(now time.Time) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	last := m.lastRound
	if last.IsZero() {
		last = m.started
	}
	return now.Sub(last) < staleAfterRound*m.opts.Interval+m.opts.Run.Timeout
}
