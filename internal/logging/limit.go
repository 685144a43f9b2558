package logging

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Limits for RateLimit. A message passes Burst times per Interval; the
// rest are counted and reported by one summary line when the interval
// ends. MaxMessages bounds the distinct messages tracked (clients can put
// their key into a message); beyond it, new messages share one budget.
type Limits struct {
	Burst       int
	Interval    time.Duration
	MaxMessages int
}

// DefaultLimits keep a flood of one client-driven event (failed
// handshakes, odd requests) to about one line a second, while an
// operator still sees the first ones of every burst at once.
var DefaultLimits = Limits{Burst: 10, Interval: 10 * time.Second, MaxMessages: 256}

// SuppressedMessage is the summary line's message.
const SuppressedMessage = "log lines suppressed"

// Limiter is a slog.Handler that rate-limits each message (by level and
// text) before passing it on.
type Limiter struct {
	inner slog.Handler
	st    *limitState
}

type limitState struct {
	limits     Limits
	now        func() time.Time
	mu         sync.Mutex
	byMessage  map[limitKey]*limitWindow
	suppressed atomic.Int64
}

type limitKey struct {
	level slog.Level
	msg   string
}

// overflowMessage stands for every message beyond MaxMessages.
const overflowMessage = "(other messages)"

type limitWindow struct {
	start      time.Time
	passed     int
	suppressed int
	flushing   bool
}

// RateLimit wraps h. A zero Limits field takes DefaultLimits' value.
func RateLimit(h slog.Handler, l Limits) *Limiter {
	if l.Burst <= 0 {
		l.Burst = DefaultLimits.Burst
	}
	if l.Interval <= 0 {
		l.Interval = DefaultLimits.Interval
	}
	if l.MaxMessages <= 0 {
		l.MaxMessages = DefaultLimits.MaxMessages
	}
	return &Limiter{inner: h, st: &limitState{limits: l, now: time.Now, byMessage: map[limitKey]*limitWindow{}}}
}

// Suppressed is how many lines were held back so far (for a metric).
func (l *Limiter) Suppressed() int64 { return l.st.suppressed.Load() }

// Enabled implements slog.Handler.
func (l *Limiter) Enabled(ctx context.Context, level slog.Level) bool {
	return l.inner.Enabled(ctx, level)
}

// WithAttrs implements slog.Handler; the budget is shared.
func (l *Limiter) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &Limiter{inner: l.inner.WithAttrs(attrs), st: l.st}
}

// WithGroup implements slog.Handler; the budget is shared.
func (l *Limiter) WithGroup(name string) slog.Handler {
	return &Limiter{inner: l.inner.WithGroup(name), st: l.st}
}

// Handle implements slog.Handler.
func (l *Limiter) Handle(ctx context.Context, r slog.Record) error {
	if l.st.allow(l.inner, r.Level, r.Message) {
		return l.inner.Handle(ctx, r)
	}
	return nil
}

func (st *limitState) allow(h slog.Handler, level slog.Level, msg string) bool {
	now := st.now()
	st.mu.Lock()
	defer st.mu.Unlock()
	k := limitKey{level, msg}
	w, ok := st.byMessage[k]
	if !ok {
		if len(st.byMessage) >= st.limits.MaxMessages {
			st.sweep(now)
		}
		if len(st.byMessage) >= st.limits.MaxMessages {
			k.msg = overflowMessage
			w = st.byMessage[k]
		}
		if w == nil {
			w = &limitWindow{start: now}
			st.byMessage[k] = w
		}
	}
	if now.Sub(w.start) >= st.limits.Interval && !w.flushing {
		w.start, w.passed = now, 0
	}
	if w.passed < st.limits.Burst {
		w.passed++
		return true
	}
	w.suppressed++
	st.suppressed.Add(1)
	if !w.flushing {
		w.flushing = true
		time.AfterFunc(st.limits.Interval-now.Sub(w.start), func() { st.flush(h, k, w) })
	}
	return false
}

// flush writes the summary for w's interval and opens a new one.
func (st *limitState) flush(h slog.Handler, k limitKey, w *limitWindow) {
	st.mu.Lock()
	n := w.suppressed
	w.suppressed, w.flushing, w.passed, w.start = 0, false, 0, st.now()
	st.mu.Unlock()
	r := slog.NewRecord(st.now(), k.level, SuppressedMessage, 0)
	r.AddAttrs(slog.String("message", k.msg), slog.Int("suppressed", n), slog.Duration("interval", st.limits.Interval))
	h.Handle(context.Background(), r)
}

// sweep forgets messages whose interval is over and that have nothing
// left to report.
func (st *limitState) sweep(now time.Time) {
	for k, w := range st.byMessage {
		if !w.flushing && now.Sub(w.start) >= st.limits.Interval {
			delete(st.byMessage, k)
		}
	}
}

// Truncate cuts a client-supplied value to at most n bytes (at a UTF-8
// boundary) for a log line, saying how long it was.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && cut < len(s) && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut] + "…(" + strconv.Itoa(len(s)) + " bytes)"
}
