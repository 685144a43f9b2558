package listen

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/relayctl/relayctl/internal/metrics"
	"github.com/relayctl/relayctl/internal/syncbuf"
)

// scriptedListener fails Accept with the errors of its script, in order,
// then hands out conn; it records when each Accept was called.
type scriptedListener struct {
	mu     sync.Mutex
	script []error
	fail   error // returned forever once the script is used up, if set
	calls  []time.Time
	conn   net.Conn
	closed chan struct{}
}

func newScripted(errs ...error) *scriptedListener {
	c1, c2 := net.Pipe()
	c2.Close()
	return &scriptedListener{script: errs, conn: c1, closed: make(chan struct{})}
}

func (l *scriptedListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, time.Now())
	select {
	case <-l.closed:
		return nil, net.ErrClosed
	default:
	}
	if len(l.script) > 0 {
		err := l.script[0]
		l.script = l.script[1:]
		return nil, err
	}
	if l.fail != nil {
		return nil, l.fail
	}
	return l.conn, nil
}

func (l *scriptedListener) Close() error {
	select {
	case <-l.closed:
	default:
		close(l.closed)
	}
	return nil
}

func (l *scriptedListener) Addr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 3340}
}

func (l *scriptedListener) callCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.calls)
}

// acceptErr is an accept failure as the net package reports it.
func acceptErr(errno syscall.Errno) error {
	return &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", errno)}
}

func retryListenerForTest(inner net.Listener, opts RetryOptions) (net.Listener, *syncbuf.Buffer, *metrics.Registry) {
	logs := &syncbuf.Buffer{}
	reg := metrics.NewRegistry()
	return RetryAccept(inner, opts, slog.New(slog.NewTextHandler(logs, nil)), reg), logs, reg
}

func TestRetryAcceptWaitsOutResourceErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		errno  syscall.Errno
		reason string
	}{
		{"process_fd_limit", syscall.EMFILE, "process_fd_limit"},
		{"system_fd_limit", syscall.ENFILE, "system_fd_limit"},
		{"kernel_buffers", syscall.ENOBUFS, "kernel_memory"},
		{"kernel_memory", syscall.ENOMEM, "kernel_memory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const failures = 5
			errs := make([]error, failures)
			for i := range errs {
				errs[i] = acceptErr(tc.errno)
			}
			inner := newScripted(errs...)
			ln, logs, reg := retryListenerForTest(inner, RetryOptions{MinPause: time.Millisecond, MaxPause: 4 * time.Millisecond, LogEvery: time.Hour})
			c, err := ln.Accept()
			if err != nil {
				t.Fatalf("Accept: %v, want the connection after the failures", err)
			}
			if c != inner.conn {
				t.Fatal("the accepted connection was wrapped")
			}
			// Pauses 1, 2, 4, 4, 4 ms between the six calls.
			want := []time.Duration{1, 2, 4, 4, 4}
			for i, w := range want {
				if gap := inner.calls[i+1].Sub(inner.calls[i]); gap < w*time.Millisecond {
					t.Errorf("pause %d was %v, want ≥ %v", i, gap, w*time.Millisecond)
				}
			}
			series := fmt.Sprintf("relayctl_accept_errors{reason=%q}", tc.reason)
			if got, want := seriesLine(t, reg, series), fmt.Sprintf("%s %d", series, failures); got != want {
				t.Errorf("metric %q, want %q", got, want)
			}
			out := logs.String()
			if n := strings.Count(out, "accepting connections failed"); n != 1 {
				t.Errorf("%d lines about the failure, want 1:\n%s", n, out)
			}
			if !strings.Contains(out, "accepting connections again") || !strings.Contains(out, "failures=5") {
				t.Errorf("recovery not logged with the count:\n%s", out)
			}
		})
	}
}

func TestRetryAcceptPassesOtherErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"closed", net.ErrClosed},
		{"invalid", acceptErr(syscall.EINVAL)},
		{"plain", errors.New("broken")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inner := newScripted(tc.err)
			ln, _, reg := retryListenerForTest(inner, DefaultRetryOptions())
			if _, err := ln.Accept(); !errors.Is(err, tc.err) {
				t.Fatalf("Accept: %v, want %v", err, tc.err)
			}
			if got := seriesLine(t, reg, "relayctl_accept_errors{"); got != "" {
				t.Error("an error that waiting cannot cure was counted as retried")
			}
		})
	}
}

// TestRetryAcceptNoBusyLoop: while descriptors stay exhausted, accept is
// tried about once per MaxPause, and the log gets one line per LogEvery.
func TestRetryAcceptNoBusyLoop(t *testing.T) {
	inner := newScripted()
	inner.fail = acceptErr(syscall.EMFILE)
	ln, logs, _ := retryListenerForTest(inner, RetryOptions{MinPause: time.Millisecond, MaxPause: 10 * time.Millisecond, LogEvery: 100 * time.Millisecond})
	done := make(chan error, 1)
	go func() {
		_, err := ln.Accept()
		done <- err
	}()
	const window = 300 * time.Millisecond
	time.Sleep(window) // the exhaustion lasts this long: a duration, not a condition
	ln.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Accept after Close: %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Accept did not return after Close")
	}
	// 1+2+4+8 ms, then one try per 10 ms: about 30 in 300 ms. A busy
	// loop makes hundreds of thousands.
	if n := inner.callCount(); n > 40 {
		t.Errorf("%d accept calls in %v, want ≤ 40", n, window)
	}
	out := logs.String()
	if n := strings.Count(out, "accepting connections failed"); n != 1 {
		t.Errorf("%d first-failure lines, want 1", n)
	}
	// One "still failing" line per 100 ms at most.
	if n := strings.Count(out, "still failing"); n < 1 || n > 3 {
		t.Errorf("%d still-failing lines in %v with LogEvery 100ms, want 1–3:\n%s", n, window, out)
	}
}

// TestRetryAcceptCloseDuringPause: Close ends a long pause at once.
func TestRetryAcceptCloseDuringPause(t *testing.T) {
	inner := newScripted(acceptErr(syscall.EMFILE))
	ln, _, _ := retryListenerForTest(inner, RetryOptions{MinPause: time.Hour, MaxPause: time.Hour})
	done := make(chan error, 1)
	go func() {
		_, err := ln.Accept()
		done <- err
	}()
	for inner.callCount() == 0 {
		time.Sleep(time.Millisecond)
	}
	ln.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Accept: %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end the pause")
	}
}

// seriesLine is the first exposition line of reg that starts with prefix.
func seriesLine(t *testing.T, reg *metrics.Registry, prefix string) string {
	t.Helper()
	var b strings.Builder
	if err := reg.WritePrometheus(&b); err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(b.String()) {
		if strings.HasPrefix(line, prefix) {
			return strings.TrimSpace(line)
		}
	}
	return ""
}
