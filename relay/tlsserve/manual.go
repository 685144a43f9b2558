package tlsserve

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/relayctl/relayctl/internal/certs"
	"github.com/relayctl/relayctl/internal/derpmap"
)

// reloadCheckInterval is how often, at most, a handshake looks at the
// certificate files' metadata. Polling on the handshake path needs no
// watcher goroutine and no inotify support, and a stat per second is free.
const reloadCheckInterval = time.Second

// ManualOptions configure a Manual certificate source.
type ManualOptions struct {
	// CertDir holds <name>.crt and <name>.key, where name is Hostname with
	// every character outside [A-Za-z0-9.-] removed (as derper names them).
	CertDir string
	// Hostname is the relay's DNS name or IP address. The certificate must
	// cover it.
	Hostname string
	Logger   *slog.Logger
	// OnSelfSigned, if set, receives the DERP map (JSON) that pins the
	// certificate whenever the relay serves a self-signed certificate for
	// an IP Hostname: one it just generated, one from an earlier start, or
	// a rotated one. Clients cannot trust such a relay without it.
	OnSelfSigned func(snippet []byte)
	// Node fills the region, node name and ports of that DERP map;
	// HostName, IP and CertName are set from the certificate.
	Node derpmap.SingleNode
}

// Manual serves a certificate and key from files, and picks up new files
// without a restart: at most once a second a handshake compares the files'
// identity, size and modification time with those last loaded, and loads
// them if they differ. Connections already open keep their session. A new
// pair that does not load (unreadable, mismatched, not covering the host
// name, expired) is logged once and the last good pair stays in force.
type Manual struct {
	opts              ManualOptions
	certFile, keyFile string
	ip                netip.Addr // valid when the host name is an IP literal
	hostname          string     // lower case, without a trailing dot
	logger            *slog.Logger
	current           atomic.Pointer[certPair]
	reloadMu          sync.Mutex // held by the one handshake that checks the files
	lastCheck         time.Time  // guarded by reloadMu
	lastFailure       string     // guarded by reloadMu; logged once
	checkEvery        time.Duration
	now               func() time.Time
}

// NewManual is NewManualWith with the default DERP map region (900) and
// ports for the self-signed snippet.
func NewManual(certDir, hostname string, logger *slog.Logger, onSelfSigned func(snippet []byte)) (*Manual, error) {
	return NewManualWith(ManualOptions{CertDir: certDir, Hostname: hostname, Logger: logger, OnSelfSigned: onSelfSigned})
}

// NewManualWith loads the certificate and key for opts.Hostname from
// opts.CertDir. If the host name is an IP address and neither file exists,
// it generates a self-signed pair (see certs.SelfSigned) and writes it
// there first, as derper does for IP-only relays.
func NewManualWith(opts ManualOptions) (*Manual, error) {
	if opts.CertDir == "" {
		return nil, errors.New("manual certificates: no certificate directory")
	}
	hostname := strings.ToLower(strings.TrimSuffix(opts.Hostname, "."))
	if hostname == "" || certs.FileBase(hostname) == "" {
		return nil, fmt.Errorf("manual certificates: host name %q: want a DNS name or an IP address", opts.Hostname)
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	m := &Manual{
		opts:       opts,
		hostname:   hostname,
		logger:     logger,
		checkEvery: reloadCheckInterval,
		now:        time.Now,
	}
	m.certFile, m.keyFile = certs.Paths(opts.CertDir, hostname)
	if ip, err := netip.ParseAddr(hostname); err == nil {
		m.ip = ip
	}
	if err := m.generateIfMissing(); err != nil {
		return nil, err
	}
	stamp, err := statPair(m.certFile, m.keyFile)
	if err != nil {
		return nil, m.missingError(err)
	}
	p, err := loadPair(m.certFile, m.keyFile, hostname, stamp, m.now())
	if err != nil {
		return nil, err
	}
	m.current.Store(p)
	m.lastCheck = m.now()
	m.announce(p, "loaded certificate")
	return m, nil
}

// generateIfMissing makes a self-signed pair for an IP host name when
// neither file exists. One file without the other is left for the
// operator: it may be half of a pair being copied in.
func (m *Manual) generateIfMissing() error {
	if !m.ip.IsValid() {
		return nil
	}
	_, certErr := os.Stat(m.certFile)
	_, keyErr := os.Stat(m.keyFile)
	if !missing(certErr) || !missing(keyErr) {
		return nil
	}
	certPEM, keyPEM, err := certs.SelfSigned(m.ip, "", certs.DefaultValidity)
	if err != nil {
		return err
	}
	if err := certs.WritePair(m.certFile, m.keyFile, certPEM, keyPEM, false); err != nil {
		return fmt.Errorf("writing a self-signed certificate for %s: %w", m.ip, err)
	}
	m.logger.Info("generated a self-signed certificate", "cert", m.certFile, "key", m.keyFile)
	return nil
}

func (m *Manual) missingError(err error) error {
	if !missing(err) {
		return err
	}
	hint := fmt.Sprintf("relayctl certgen --ip <this relay's IP> --hostname %s --certdir %s", m.hostname, m.opts.CertDir)
	if m.ip.IsValid() {
		hint = fmt.Sprintf("relayctl certgen --ip %s --certdir %s --force, or remove the other file to have one generated", m.ip, m.opts.CertDir)
	}
	return fmt.Errorf("%w: --certmode manual needs %s and %s (make a self-signed pair with: %s)", err, m.certFile, m.keyFile, hint)
}

// announce logs a newly loaded pair and, for a self-signed certificate on
// an IP host name, hands out the DERP map that pins it.
func (m *Manual) announce(p *certPair, msg string) {
	m.logger.Info(msg, "cert", m.certFile, "cert_name", p.certName,
		"not_after", p.leaf.NotAfter.UTC().Format(time.RFC3339), "self_signed", p.selfSigned())
	if !m.ip.IsValid() || !p.selfSigned() || m.opts.OnSelfSigned == nil {
		return
	}
	node := m.opts.Node
	node.HostName, node.IP, node.CertName = m.hostname, m.ip, p.certName
	snippet, err := derpmap.Render(node.Map())
	if err != nil {
		m.logger.Error("rendering the DERP map snippet", "err", err)
		return
	}
	m.opts.OnSelfSigned(snippet)
}

// GetCertificate returns the current certificate. For a DNS host name the
// client's SNI must name it; for an IP host name clients send no SNI and
// none is required.
func (m *Manual) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if !m.ip.IsValid() {
		sni := strings.ToLower(strings.TrimSuffix(hello.ServerName, "."))
		if sni != m.hostname {
			return nil, fmt.Errorf("no certificate for server name %q: this relay serves %q", hello.ServerName, m.hostname)
		}
	}
	m.maybeReload()
	return m.current.Load().cert, nil
}

// CertName is the "sha256-raw:" pin of the certificate now served.
func (m *Manual) CertName() string { return m.current.Load().certName }

// Close releases nothing today (reloading needs no watcher); it is here so
// callers treat every certificate source alike.
func (m *Manual) Close() error { return nil }

// maybeReload loads the files again if they changed since the last load.
// Only one handshake checks at a time; the others carry on with the
// current certificate.
func (m *Manual) maybeReload() {
	if !m.reloadMu.TryLock() {
		return
	}
	defer m.reloadMu.Unlock()
	now := m.now()
	if now.Sub(m.lastCheck) < m.checkEvery {
		return
	}
	m.lastCheck = now
	cur := m.current.Load()
	stamp, err := statPair(m.certFile, m.keyFile)
	if err == nil && stamp.equal(cur.stamp) {
		return
	}
	var p *certPair
	if err == nil {
		p, err = loadPair(m.certFile, m.keyFile, m.hostname, stamp, now)
	}
	if err != nil {
		if msg := err.Error(); msg != m.lastFailure {
			m.lastFailure = msg
			m.logger.Warn("new certificate files do not load; still serving the previous certificate",
				"cert_name", cur.certName, "err", err)
		}
		return
	}
	m.lastFailure = ""
	m.current.Store(p)
	if p.certName != cur.certName { // not merely touched or rewritten as is
		m.announce(p, "reloaded certificate")
	}
}
