// Package acmecert obtains and renews a relay's TLS certificates from an
// ACME CA: Let's Encrypt by default, or any RFC 8555 directory (ZeroSSL,
// step-ca, a private CA). DNS names go through x/crypto's autocert; IP
// addresses (RFC 8738) through IPManager, since autocert handles names only.
package acmecert

import (
	"log/slog"
	"net/http"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"
)

// LetsEncryptURL is the default directory.
const LetsEncryptURL = acme.LetsEncryptURL

// Options are shared by both managers.
type Options struct {
	// DirectoryURL is the CA's ACME directory; empty means Let's Encrypt.
	DirectoryURL string
	// Email is the account contact; optional.
	Email string
	// EAB binds the ACME account to an account at the CA, for CAs that
	// require it (Google Trust Services, ZeroSSL); nil for none.
	EAB *acme.ExternalAccountBinding
	// CacheDir holds the account key and issued certificates.
	CacheDir string
	// HTTPClient talks to the CA; nil uses the system roots, which honour
	// SSL_CERT_FILE and SSL_CERT_DIR (how a private CA is trusted).
	HTTPClient *http.Client
	Logger     *slog.Logger
}

func (o Options) directory() string {
	if o.DirectoryURL == "" {
		return LetsEncryptURL
	}
	return o.DirectoryURL
}

// userAgent names relayctl to the CA. Set before the client is shared:
// autocert fills in its own on first use, which would race with the EAB
// check reading the directory through the same client.
const userAgent = "relayctl"

// newClient is an ACME client for the CA, without an account key yet.
func (o Options) newClient() *acme.Client {
	return &acme.Client{DirectoryURL: o.directory(), HTTPClient: o.HTTPClient, UserAgent: userAgent}
}

func (o Options) logger() *slog.Logger {
	if o.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Logger
}

// NewHostManager returns an autocert manager that obtains certificates for
// hostname only, by TLS-ALPN-01 (when the TLS config offers "acme-tls/1")
// or HTTP-01 (through HTTPHandler on port 80), caching in CacheDir.
func NewHostManager(hostname string, o Options) *autocert.Manager {
	return &autocert.Manager{
		Prompt:     autocert.AcceptTOS,
		HostPolicy: autocert.HostWhitelist(hostname),
		Cache:      autocert.DirCache(o.CacheDir),
		Email:      o.Email,
		Client:     o.newClient(),

		ExternalAccountBinding: o.EAB,
	}
}
