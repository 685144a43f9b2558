package acmecert

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"

	"github.com/relayctl/relayctl/internal/metrics"
)

// Host obtains and renews the certificate for a DNS host name through
// autocert, and does not leave failures to the TLS handshakes: autocert
// asks the CA only when a client connects, and a failure reaches nobody
// but that client, as "tls: internal error". Host asks at start, logs each
// failed attempt at error level with the next attempt's time, retries
// with backoff, and meanwhile answers handshakes at once with the reason
// (Health) instead of sending every client's handshake to the CA.
type Host struct {
	m        *autocert.Manager
	hostname string
	logger   *slog.Logger
	health   *Health

	// retryBase and retryMax bound the backoff; tests shorten them.
	retryBase, retryMax time.Duration
}

// NewHost returns a Host for hostname; reg receives the certificate
// metrics (see Health).
func NewHost(hostname string, o Options, reg *metrics.Registry) *Host {
	m := NewHostManager(hostname, o)
	m.Cache = keepingCache{DirCache: autocert.DirCache(o.CacheDir), failures: newStoreFailures(o.logger(), reg)}
	return &Host{
		m:         m,
		hostname:  strings.ToLower(strings.TrimSuffix(hostname, ".")),
		logger:    o.logger(),
		health:    NewHealth(reg),
		retryBase: minRetry,
		retryMax:  maxRetry,
	}
}

// Health is the certificate's state.
func (h *Host) Health() *Health { return h.health }

// RequiresEAB says whether the CA requires External Account Binding. It
// reads the directory through the manager's own ACME client, so the
// certificate requests reuse it rather than fetching it again.
func (h *Host) RequiresEAB(ctx context.Context) (bool, error) { return requiresEAB(ctx, h.m.Client) }

// HTTPHandler answers HTTP-01 challenges on port 80, passing everything
// else to fallback.
func (h *Host) HTTPHandler(fallback http.Handler) http.Handler { return h.m.HTTPHandler(fallback) }

// GetCertificate serves the certificate. TLS-ALPN-01 challenges always go
// to autocert; other handshakes get the recorded failure while no
// certificate is in hand.
func (h *Host) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if slices.Contains(hello.SupportedProtos, acme.ALPNProto) {
		return h.m.GetCertificate(hello)
	}
	if err := h.health.Err(); err != nil {
		return nil, err
	}
	c, err := h.m.GetCertificate(hello)
	if err != nil && strings.ToLower(strings.TrimSuffix(hello.ServerName, ".")) == h.hostname {
		// A certificate in hand was lost (it expired unrenewed): Run
		// takes over the attempts.
		return nil, h.health.failed(err, time.Now().Add(h.retryBase))
	}
	return c, err
}

// Run obtains the certificate now, and again whenever it is lost, until
// ctx ends. Renewal of a certificate in hand is autocert's.
func (h *Host) Run(ctx context.Context) {
	retry := h.retryBase
	for attempt := 1; ; attempt++ {
		if h.health.Available() {
			select {
			case <-ctx.Done():
				return
			case <-h.health.degraded:
			}
			retry, attempt = h.retryBase, 1
		}
		_, err := h.m.GetCertificate(h.hello())
		if err == nil {
			h.health.attempts.With("ok").Inc()
			h.health.succeeded()
			h.logger.Info("certificate available", "hostname", h.hostname)
			continue
		}
		h.health.attempts.With("error").Inc()
		next := time.Now().Add(retry)
		h.health.failed(err, next)
		h.logger.Error("certificate unavailable: the ACME CA did not issue one; every TLS handshake fails until it does",
			"hostname", h.hostname, "ca", h.m.Client.DirectoryURL, "attempt", attempt,
			"next_attempt", next.UTC().Format(time.RFC3339), "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(retry):
		}
		retry = min(2*retry, h.retryMax)
	}
}

// hello is the handshake Run asks autocert with: a client offering ECDSA,
// as Tailscale clients do, so the certificate obtained is the one they
// will be served.
func (h *Host) hello() *tls.ClientHelloInfo {
	return &tls.ClientHelloInfo{
		ServerName:        h.hostname,
		CipherSuites:      []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
		SupportedCurves:   []tls.CurveID{tls.CurveP256},
		SignatureSchemes:  []tls.SignatureScheme{tls.ECDSAWithP256AndSHA256},
		SupportedVersions: []uint16{tls.VersionTLS13, tls.VersionTLS12},
	}
}
