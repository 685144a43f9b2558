package admission

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/relayctl/relayctl/internal/metrics"
)

// Chain asks its checks in order; the first that does not admit rejects
// the client, and later checks are not asked.
type Chain struct {
	checks    []Check
	logger    *slog.Logger
	decisions *metrics.CounterVec
	cacheHits *metrics.CounterVec
}

// NewChain returns a chain of checks. reg may be nil (no metrics).
func NewChain(logger *slog.Logger, reg *metrics.Registry, checks ...Check) *Chain {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if reg == nil {
		reg = metrics.NewRegistry()
	}
	return &Chain{
		checks: checks,
		logger: logger,
		decisions: reg.CounterVec("relayctl_admission_decisions",
			"admission answers per check; result is allow, deny, error, unreachable, overloaded or fail_open", "check", "result"),
		cacheHits: reg.CounterVec("relayctl_admission_cache_hits",
			"admission answers served from the short per-key cache instead of asking the backend", "check"),
	}
}

// Len is the number of checks.
func (c *Chain) Len() int { return len(c.checks) }

// Admit returns nil when every check admits r, else the first rejection.
func (c *Chain) Admit(ctx context.Context, r Request) error {
	for _, ch := range c.checks {
		d := ch.Check(ctx, r)
		c.decisions.With(ch.Name(), string(d.Result)).Inc()
		if d.Cached {
			c.cacheHits.With(ch.Name()).Inc()
		}
		switch {
		case d.Result == FailOpen:
			c.logger.Warn("admission controller unreachable; allowing client",
				"client", r.Key.String(), "source", sourceString(r), "check", ch.Name(), "err", d.Reason)
		case !d.Admits():
			reason := d.Reason
			if reason == nil {
				reason = fmt.Errorf("%s check: %s", ch.Name(), d.Result)
			}
			c.logger.Info("client "+r.Key.String()+" rejected: "+reason.Error(),
				"client", r.Key.String(), "source", sourceString(r), "check", ch.Name(),
				"result", string(d.Result), "reason", reason.Error())
			return reason
		}
	}
	return nil
}

func sourceString(r Request) string {
	if !r.Source.IsValid() {
		return ""
	}
	return r.Source.String()
}
