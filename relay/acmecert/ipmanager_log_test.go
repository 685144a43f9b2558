package acmecert

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/relayctl/relayctl/internal/syncbuf"
)

// TestIPManagerFailureWithoutCertificateIsAnError: with no certificate
// in hand a failed request is logged at error level, naming the CA and
// the next attempt.
func TestIPManagerFailureWithoutCertificateIsAnError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "https://" + ln.Addr().String() + "/directory"
	ln.Close()
	var log syncbuf.Buffer
	m, err := NewIPManager(netip.MustParseAddr("127.0.0.1"), Options{DirectoryURL: dead, CacheDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(&log, nil))}, nil)
	if err != nil {
		t.Fatal(err)
	}
	m.retryBase = time.Hour
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); m.Run(ctx) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(log.String(), "certificate unavailable") {
		if time.Now().After(deadline) {
			t.Fatalf("no failure logged:\n%s", log.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	line := log.String()
	for _, want := range []string{"level=ERROR", "ca=" + dead, "next_attempt=", "connection refused"} {
		if !strings.Contains(line, want) {
			t.Errorf("log lacks %q:\n%s", want, line)
		}
	}

	// The same state as a DNS-name relay's: its metrics, its health (which
	// /derp/probe and probe's hint read) and the handshake error.
	for m.health.attempts.With("error").Value() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the failed attempt was not counted")
		}
		time.Sleep(10 * time.Millisecond)
	}
	h := m.Health()
	if h.Available() || h.availableGauge.Value() != 0 || !errors.Is(h.Err(), ErrCertificateUnavailable) {
		t.Errorf("health: available %v, gauge %d, err %v; want unavailable with ErrCertificateUnavailable", h.Available(), h.availableGauge.Value(), h.Err())
	}
	if _, err := m.GetCertificate(&tls.ClientHelloInfo{}); !errors.Is(err, ErrCertificateUnavailable) || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("handshake error %v: want the recorded reason", err)
	}
}
