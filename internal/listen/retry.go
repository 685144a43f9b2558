package listen

import (
	"errors"
	"log/slog"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/relayctl/relayctl/internal/metrics"
)

// RetryOptions shape how RetryAccept waits out an accept that fails for
// want of a resource.
type RetryOptions struct {
	// MinPause is the first pause after a failed accept; each further
	// failure in a row doubles it up to MaxPause.
	MinPause, MaxPause time.Duration
	// LogEvery spaces the "still failing" lines while accepting keeps
	// failing; the first failure and the recovery are always logged.
	LogEvery time.Duration
}

// DefaultRetryOptions pause like net/http's accept loop (5 ms doubling to
// 1 s), so a relay out of descriptors wakes at most once a second, and log
// at most one line a minute while it lasts.
func DefaultRetryOptions() RetryOptions {
	return RetryOptions{MinPause: 5 * time.Millisecond, MaxPause: time.Second, LogEvery: time.Minute}
}

// RetryAccept wraps ln so that an accept failing for want of a resource
// (file descriptors, kernel buffers) is counted, logged at a bounded rate
// and retried after a growing pause, instead of reaching the server: a
// relay at its descriptor limit keeps serving the connections it has and
// takes new ones again by itself once descriptors are free. Other errors
// (a closed listener) are returned as they are. Accepted connections are
// the listener's own, unwrapped.
func RetryAccept(ln net.Listener, opts RetryOptions, logger *slog.Logger, reg *metrics.Registry) net.Listener {
	errs := reg.CounterVec("relayctl_accept_errors", "accepts that failed for want of a resource and were retried after a pause", "reason")
	return &retryListener{
		Listener: ln,
		opts:     opts,
		logger:   logger,
		errs:     errs,
		closed:   make(chan struct{}),
	}
}

type retryListener struct {
	net.Listener
	opts   RetryOptions
	logger *slog.Logger
	errs   *metrics.CounterVec

	closeOnce sync.Once
	closed    chan struct{}

	// The failure streak; Accept is serialised by its caller's loop, the
	// mutex only keeps a second caller honest.
	mu       sync.Mutex
	failing  int       // failures in a row
	since    time.Time // first failure of the streak
	lastLog  time.Time
	loggedAt int // failures reported by the last line
}

func (l *retryListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err == nil {
			l.recovered()
			return c, nil
		}
		reason, retry := acceptFailure(err)
		if !retry {
			return nil, err
		}
		pause := l.failed(reason, err)
		t := time.NewTimer(pause)
		select {
		case <-t.C:
		case <-l.closed:
			t.Stop()
			return nil, net.ErrClosed
		}
	}
}

func (l *retryListener) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return l.Listener.Close()
}

// failed counts one failure and returns the pause before the next try.
func (l *retryListener) failed(reason string, err error) time.Duration {
	l.errs.With(reason).Inc()
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	l.failing++
	if l.failing == 1 {
		l.since, l.lastLog, l.loggedAt = now, now, 1
		l.logger.Warn("accepting connections failed: pausing new connections; established ones are served",
			"addr", l.Addr().String(), "reason", reason, "err", err)
	} else if l.opts.LogEvery > 0 && now.Sub(l.lastLog) >= l.opts.LogEvery {
		l.logger.Warn("accepting connections still failing",
			"addr", l.Addr().String(), "reason", reason, "failures", l.failing-l.loggedAt, "for", now.Sub(l.since).Round(time.Millisecond))
		l.lastLog, l.loggedAt = now, l.failing
	}
	pause := l.opts.MinPause
	for i := 1; i < l.failing && pause < l.opts.MaxPause; i++ {
		pause *= 2
	}
	return min(pause, l.opts.MaxPause)
}

// recovered ends a failure streak, if there was one.
func (l *retryListener) recovered() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failing == 0 {
		return
	}
	l.logger.Info("accepting connections again", "addr", l.Addr().String(),
		"failures", l.failing, "after", time.Since(l.since).Round(time.Millisecond))
	l.failing = 0
}

// acceptFailure names a failed accept's cause for the metric and says
// whether waiting can cure it.
func acceptFailure(err error) (reason string, retry bool) {
	if errors.Is(err, net.ErrClosed) {
		return "", false
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		switch errno {
		case syscall.EMFILE:
			return "process_fd_limit", true
		case syscall.ENFILE:
			return "system_fd_limit", true
		case syscall.ENOBUFS, syscall.ENOMEM:
			return "kernel_memory", true
		}
	}
	var temp interface{ Temporary() bool }
	if errors.As(err, &temp) && temp.Temporary() {
		return "other", true
	}
	return "", false
}
