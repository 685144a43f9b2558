package acmecert

import (
	"context"
	"log/slog"
	"time"
)

// logFailure reports a failed request: at error level while the relay
// has no valid certificate (every TLS handshake fails), as a warning
// while the current one still serves.
func (m *IPManager) logFailure(err error, retry time.Duration) {
	level, msg := slog.LevelWarn, "ACME IP certificate renewal failed; the current certificate still serves"
	if m.withoutValidCert() {
		level, msg = slog.LevelError, "certificate unavailable: the ACME CA did not issue an IP certificate; every TLS handshake fails until it does"
	}
	m.logger.Log(context.Background(), level, msg, "ip", m.ip, "ca", m.opts.directory(),
		"next_attempt", time.Now().Add(retry).UTC().Format(time.RFC3339), "err", err)
}
