package acmecert

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/acme"

	"github.com/relayctl/relayctl/internal/atomicfile"
	"github.com/relayctl/relayctl/internal/metrics"
)

// Renewal timing. Let's Encrypt's IP certificates live about six days, so
// renewal starts with a third of the lifetime left, and failures are
// retried from a minute up to half an hour apart.
const (
	renewFraction  = 3
	minRetry       = time.Minute
	maxRetry       = 30 * time.Minute
	shortLivedName = "shortlived"
	accountKeyFile = "acme-account.key"
)

// IPManager obtains and renews an ACME certificate for one IP address,
// proving control with HTTP-01 on port 80.
type IPManager struct {
	ip     netip.Addr
	opts   Options
	logger *slog.Logger
	// acme is the one client for the CA, so its directory is fetched
	// once; Run's goroutine gives it the account key.
	acme *acme.Client

	cert   atomic.Pointer[tls.Certificate]
	tokens sync.Map // HTTP-01 path → key authorization

	// retryBase is the first retry delay; tests shorten it.
	retryBase time.Duration

	// health says whether there is a certificate to offer, and why not.
	health *Health
	// storeFailures reports files CacheDir refused (store.go).
	storeFailures storeFailures
}

// NewIPManager loads a still-valid certificate for ip from CacheDir, if
// any. Call Run to obtain or renew it. reg (nil: none) gets the
// certificate metrics (see Health).
func NewIPManager(ip netip.Addr, o Options, reg *metrics.Registry) (*IPManager, error) {
	if !ip.IsValid() {
		return nil, errors.New("acme IP certificate: no IP address")
	}
	if o.CacheDir == "" {
		return nil, errors.New("acme IP certificate: no cache directory")
	}
	if err := os.MkdirAll(o.CacheDir, 0o700); err != nil {
		return nil, fmt.Errorf("acme IP certificate: %w", err)
	}
	m := &IPManager{ip: ip.Unmap(), opts: o, logger: o.logger(), acme: o.newClient(), retryBase: minRetry, health: NewHealth(reg), storeFailures: newStoreFailures(o.logger(), reg)}
	if c, err := tls.LoadX509KeyPair(m.certPath(), m.keyPath()); err == nil && c.Leaf != nil && time.Now().Before(c.Leaf.NotAfter) {
		m.setCert(&c)
		m.logger.Info("loaded ACME IP certificate", "ip", m.ip, "expires", c.Leaf.NotAfter)
	}
	return m, nil
}

// fileBase is the IP with colons made file-name friendly, as derper names
// its IP certificate files.
func (m *IPManager) fileBase() string { return strings.ReplaceAll(m.ip.String(), ":", ".") }
func (m *IPManager) certPath() string { return filepath.Join(m.opts.CacheDir, m.fileBase()+".crt") }
func (m *IPManager) keyPath() string  { return filepath.Join(m.opts.CacheDir, m.fileBase()+".key") }

func (m *IPManager) setCert(c *tls.Certificate) {
	m.cert.Store(c)
	m.health.succeeded()
}

// GetCertificate serves the IP certificate to clients that send no SNI or
// our IP; other names are refused.
func (m *IPManager) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if sni := hello.ServerName; sni != "" {
		if a, err := netip.ParseAddr(sni); err != nil || a.Unmap() != m.ip {
			return nil, fmt.Errorf("acme IP certificate: no certificate for server name %q", sni)
		}
	}
	c := m.cert.Load()
	if c == nil {
		if err := m.health.Err(); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("acme IP certificate for %v: not issued yet", m.ip)
	}
	return c, nil
}

// HTTPHandler answers HTTP-01 challenges and passes everything else to
// fallback.
func (m *IPManager) HTTPHandler(fallback http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if v, ok := m.tokens.Load(r.URL.Path); ok {
			w.Header().Set("Content-Type", "text/plain")
			w.Write([]byte(v.(string)))
			return
		}
		fallback.ServeHTTP(w, r)
	})
}

// Run keeps a valid certificate until ctx ends: it obtains one now if
// there is none, and renews with a third of the lifetime left.
func (m *IPManager) Run(ctx context.Context) {
	retry := m.retryBase
	for {
		wait := m.untilRenewal()
		if wait > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			continue
		}
		if err := m.obtain(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			m.logFailure(err, retry)
			if m.withoutValidCert() {
				m.health.failed(err, time.Now().Add(retry))
			}
			m.health.attempts.With("error").Inc() // after failed: tests wait on it
			select {
			case <-ctx.Done():
				return
			case <-time.After(retry):
			}
			retry = min(2*retry, maxRetry)
			continue
		}
		m.health.attempts.With("ok").Inc()
		retry = m.retryBase
	}
}

// Health is whether the manager has a certificate to offer; while it has
// none, why not and when it tries again.
func (m *IPManager) Health() *Health { return m.health }

// withoutValidCert is true when no certificate is in hand or the one in
// hand has expired.
func (m *IPManager) withoutValidCert() bool {
	c := m.cert.Load()
	return c == nil || c.Leaf == nil || !time.Now().Before(c.Leaf.NotAfter)
}

// untilRenewal is how long the current certificate may be kept, checked
// at least hourly so a suspended machine catches up.
func (m *IPManager) untilRenewal() time.Duration {
	c := m.cert.Load()
	if c == nil || c.Leaf == nil {
		return 0
	}
	life := c.Leaf.NotAfter.Sub(c.Leaf.NotBefore)
	renewAt := c.Leaf.NotAfter.Add(-life / renewFraction)
	return min(time.Until(renewAt), time.Hour)
}

// RequiresEAB says whether the CA requires External Account Binding,
// through the client the certificate requests use (see Host.RequiresEAB).
func (m *IPManager) RequiresEAB(ctx context.Context) (bool, error) { return requiresEAB(ctx, m.acme) }

func (m *IPManager) client(ctx context.Context) (*acme.Client, error) {
	c := m.acme
	if c.Key == nil {
		key, err := m.accountKey()
		if err != nil {
			return nil, err
		}
		c.Key = key
	}
	acct := &acme.Account{ExternalAccountBinding: m.opts.EAB}
	if m.opts.Email != "" {
		acct.Contact = []string{"mailto:" + m.opts.Email}
	}
	if _, err := c.Register(ctx, acct, acme.AcceptTOS); err != nil && !errors.Is(err, acme.ErrAccountAlreadyExists) {
		return nil, fmt.Errorf("register ACME account at %s: %w", m.opts.directory(), err)
	}
	return c, nil
}

// accountKey loads or creates the ACME account key in CacheDir.
func (m *IPManager) accountKey() (crypto.Signer, error) {
	path := filepath.Join(m.opts.CacheDir, accountKeyFile)
	if b, err := os.ReadFile(path); err == nil {
		if blk, _ := pem.Decode(b); blk != nil {
			if k, err := x509.ParseECPrivateKey(blk.Bytes); err == nil {
				return k, nil
			}
		}
		return nil, fmt.Errorf("ACME account key %s is not a PEM EC private key", path)
	}
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	der, _ := x509.MarshalECPrivateKey(k)
	if err := atomicfile.Write(path, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		m.storeFailures.failed(path, err)
	}
	return k, nil
}

// obtain runs one ACME order for the IP and installs the result.
func (m *IPManager) obtain(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	c, err := m.client(ctx)
	if err != nil {
		return err
	}
	dir, err := c.Discover(ctx)
	if err != nil {
		return fmt.Errorf("ACME directory %s: %w", m.opts.directory(), err)
	}
	var orderOpts []acme.OrderOption
	if _, ok := dir.Profiles[shortLivedName]; ok {
		// Let's Encrypt issues IP certificates only in this profile.
		orderOpts = append(orderOpts, acme.WithOrderIssuanceProfile(shortLivedName))
	}
	order, err := c.AuthorizeOrder(ctx, []acme.AuthzID{{Type: "ip", Value: m.ip.String()}}, orderOpts...)
	if err != nil {
		return fmt.Errorf("new order for %v: %w", m.ip, err)
	}
	for _, u := range order.AuthzURLs {
		if err := m.authorize(ctx, c, u); err != nil {
			return err
		}
	}
	if _, err := c.WaitOrder(ctx, order.URI); err != nil {
		return fmt.Errorf("order for %v: %w", m.ip, err)
	}
	certKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{IPAddresses: []net.IP{m.ip.AsSlice()}}, certKey)
	if err != nil {
		return err
	}
	// CreateCertFromOrder, not CreateOrderCert: a CA may answer the
	// finalize request without the order's URL, which the latter needs to
	// wait for issuance.
	chain, _, err := c.CreateCertFromOrder(ctx, order, csr, true)
	if err != nil {
		return fmt.Errorf("finalize order for %v: %w", m.ip, err)
	}
	leaf, err := x509.ParseCertificate(chain[0])
	if err != nil {
		return fmt.Errorf("certificate from CA: %w", err)
	}
	m.setCert(&tls.Certificate{Certificate: chain, PrivateKey: certKey, Leaf: leaf})
	if err := m.save(chain, certKey); err != nil {
		m.storeFailures.failed(m.opts.CacheDir, err)
	}
	m.logger.Info("obtained ACME IP certificate", "ip", m.ip, "expires", leaf.NotAfter, "issuer", leaf.Issuer.CommonName)
	return nil
}

func (m *IPManager) authorize(ctx context.Context, c *acme.Client, authzURL string) error {
	z, err := c.GetAuthorization(ctx, authzURL)
	if err != nil {
		return fmt.Errorf("authorization %s: %w", authzURL, err)
	}
	if z.Status == acme.StatusValid {
		return nil
	}
	var chal *acme.Challenge
	for _, ch := range z.Challenges {
		if ch.Type == "http-01" {
			chal = ch
		}
	}
	if chal == nil {
		return fmt.Errorf("CA offers no http-01 challenge for %v", m.ip)
	}
	path := c.HTTP01ChallengePath(chal.Token)
	body, err := c.HTTP01ChallengeResponse(chal.Token)
	if err != nil {
		return err
	}
	m.tokens.Store(path, body)
	defer m.tokens.Delete(path)
	if _, err := c.Accept(ctx, chal); err != nil {
		return fmt.Errorf("accept http-01 for %v: %w", m.ip, err)
	}
	if _, err := c.WaitAuthorization(ctx, z.URI); err != nil {
		return fmt.Errorf("http-01 for %v (is port 80 reachable from the CA?): %w", m.ip, err)
	}
	return nil
}

func (m *IPManager) save(chain [][]byte, key *ecdsa.PrivateKey) error {
	var certPEM []byte
	for _, der := range chain {
		certPEM = append(certPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(m.keyPath(), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", m.keyPath(), err)
	}
	if err := atomicfile.Write(m.certPath(), certPEM, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", m.certPath(), err)
	}
	return nil
}
