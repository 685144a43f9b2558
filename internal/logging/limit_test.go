package logging

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/relayctl/relayctl/internal/syncbuf"
)

func TestRateLimitSummarises(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var out syncbuf.Buffer
		lim := RateLimit(slog.NewTextHandler(&out, nil), Limits{Burst: 3, Interval: 10 * time.Second})
		logger := slog.New(lim)
		for i := range 20 {
			logger.Info("handshake failed", "i", i)
		}
		logger.Info("other event")
		if got := strings.Count(out.String(), "handshake failed"); got != 3 {
			t.Fatalf("%d lines passed, want 3:\n%s", got, out.String())
		}
		if !strings.Contains(out.String(), "other event") {
			t.Fatalf("another message was held back:\n%s", out.String())
		}
		if lim.Suppressed() != 17 {
			t.Fatalf("Suppressed() = %d, want 17", lim.Suppressed())
		}
		time.Sleep(10 * time.Second) // fake time: the interval ends
		synctest.Wait()
		if !strings.Contains(out.String(), `msg="log lines suppressed" message="handshake failed" suppressed=17 interval=10s`) {
			t.Fatalf("no summary line:\n%s", out.String())
		}
		logger.Info("handshake failed", "i", 99)
		if !strings.Contains(out.String(), "i=99") {
			t.Fatalf("the next interval's first line was held back:\n%s", out.String())
		}
	})
}

// TestRateLimitBoundsMessages: messages that carry a client's key are all
// distinct; past MaxMessages they share one budget instead of growing the
// table.
func TestRateLimitBoundsMessages(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var out syncbuf.Buffer
		lim := RateLimit(slog.NewTextHandler(&out, nil), Limits{Burst: 2, Interval: time.Minute, MaxMessages: 4})
		logger := slog.New(lim)
		for i := range 100 {
			logger.Info(fmt.Sprintf("client %d rejected", i))
		}
		lim.st.mu.Lock()
		n := len(lim.st.byMessage)
		lim.st.mu.Unlock()
		if n > 5 {
			t.Fatalf("%d messages tracked, want at most 4 and the overflow", n)
		}
		if got := strings.Count(out.String(), "rejected"); got != 6 {
			t.Fatalf("%d lines passed, want 4 distinct + 2 from the shared budget", got)
		}
		time.Sleep(time.Minute)
		synctest.Wait()
	})
}

func TestTruncate(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"websocket", 64, "websocket"},
		{strings.Repeat("x", 100), 8, "xxxxxxxx…(100 bytes)"},
		{"ééé", 3, "é…(6 bytes)"},
	}
	for _, tc := range tests {
		if got := Truncate(tc.in, tc.n); got != tc.want {
			t.Errorf("Truncate(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}
