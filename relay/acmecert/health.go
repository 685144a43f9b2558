package acmecert

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/relayctl/relayctl/internal/metrics"
)

// ErrCertificateUnavailable is wrapped by every error a relay returns
// while it has no certificate to offer.
var ErrCertificateUnavailable = errors.New("certificate unavailable")

// Health is whether a relay has a certificate to offer. Without one every
// TLS handshake fails (clients see only "tls: internal error"), so the
// cause is kept here for the logs, the metrics and /derp/probe on the
// plain-HTTP port.
type Health struct {
	mu          sync.Mutex
	available   bool
	lastErr     error
	nextAttempt time.Time
	// degraded is signalled when a certificate that was available is
	// lost (an expired one could not be renewed).
	degraded chan struct{}

	availableGauge *metrics.Gauge
	attempts       *metrics.CounterVec
}

// NewHealth registers the certificate metrics in reg (nil: none).
func NewHealth(reg *metrics.Registry) *Health {
	if reg == nil {
		reg = metrics.NewRegistry()
	}
	h := &Health{
		degraded:       make(chan struct{}, 1),
		availableGauge: reg.Gauge("relayctl_cert_available", "1 when the relay has a TLS certificate to offer, 0 while it cannot get one (every TLS handshake fails)"),
		attempts:       reg.CounterVec("relayctl_cert_acquisitions", "attempts to obtain a certificate from the ACME CA, by result", "result"),
	}
	h.attempts.With("ok")
	h.attempts.With("error")
	return h
}

// Err is nil while a certificate is available (or none was asked for
// yet), else why not, wrapping ErrCertificateUnavailable.
func (h *Health) Err() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.available || h.lastErr == nil {
		return nil
	}
	return h.errLocked()
}

func (h *Health) errLocked() error {
	next := ""
	if !h.nextAttempt.IsZero() {
		next = "; next attempt at " + h.nextAttempt.UTC().Format(time.RFC3339)
	}
	return fmt.Errorf("%w: %w%s", ErrCertificateUnavailable, h.lastErr, next)
}

// Available reports whether a certificate is in hand.
func (h *Health) Available() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.available
}

// succeeded records a certificate in hand.
func (h *Health) succeeded() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.available, h.lastErr, h.nextAttempt = true, nil, time.Time{}
	h.availableGauge.Set(1)
}

// failed records an attempt that failed and when the next one is due,
// and returns the error to show.
func (h *Health) failed(err error, next time.Time) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	wasAvailable := h.available
	h.available, h.lastErr, h.nextAttempt = false, err, next
	h.availableGauge.Set(0)
	if wasAvailable {
		select {
		case h.degraded <- struct{}{}:
		default:
		}
	}
	return h.errLocked()
}
