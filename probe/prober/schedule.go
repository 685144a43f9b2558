package prober

import (
	"context"
	"sync"
	"time"
)

// Scheduling defaults.
const (
	DefaultParallel = 8
	DefaultTimeout  = 10 * time.Second
)

// RunOptions bound a batch of probes; DefaultRunOptions is the usual
// start.
type RunOptions struct {
	// Parallel is how many probes run at once; below 1 means one.
	Parallel int
	// Timeout bounds each probe; 0 means no limit of its own (ctx still
	// bounds the batch).
	Timeout time.Duration
	// OnResult, if set, is called after each probe finishes, with the
	// number finished so far. Calls are serialized.
	OnResult func(done, total int, r Result)
}

// DefaultRunOptions runs DefaultParallel probes at once, each within
// DefaultTimeout.
func DefaultRunOptions() RunOptions {
	return RunOptions{Parallel: DefaultParallel, Timeout: DefaultTimeout}
}

// RunAll runs probes, at most Parallel at a time and each within Timeout,
// and returns their results in the order of probes. Probes that had not
// started when ctx ended fail with "not run".
func RunAll(ctx context.Context, probes []*Probe, opts RunOptions) []Result {
	parallel := max(opts.Parallel, 1)
	results := make([]Result, len(probes))
	var (
		mu   sync.Mutex
		done int
	)
	finish := func(i int, r Result) {
		results[i] = r
		if opts.OnResult == nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		done++
		opts.OnResult(done, len(probes), r)
	}
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i, p := range probes {
		if ctx.Err() != nil {
			finish(i, notRun(p, ctx))
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			finish(i, notRun(p, ctx))
			continue
		}
		wg.Go(func() {
			defer func() { <-sem }()
			pctx, cancel := ctx, context.CancelFunc(func() {})
			if opts.Timeout > 0 {
				pctx, cancel = context.WithTimeout(ctx, opts.Timeout)
			}
			defer cancel()
			finish(i, p.Run(pctx))
		})
	}
	wg.Wait()
	return results
}

// notRun is the failed result of a probe that ctx ended before it began.
func notRun(p *Probe, ctx context.Context) Result {
	r := p.newResult()
	r.Status, r.Error, r.End = StatusFail, "not run: "+context.Cause(ctx).Error(), r.Start
	return r
}
