package tlsserve

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"slices"
	"time"

	"github.com/relayctl/relayctl/internal/certs"
	"github.com/relayctl/relayctl/relay/key"
	"github.com/relayctl/relayctl/relay/wire"
)

// metaCertLifetime is how far either side of the process start the
// metacert is valid. Clients never check its dates, so it is not renewed.
const metaCertLifetime = 30 * 24 * time.Hour

// acmeTLSProto is the ALPN of ACME's TLS-ALPN-01 challenge, whose
// certificate must reach the CA as it is.
const acmeTLSProto = "acme-tls/1"

// WithMetaCert returns a GetCertificateFunc that presents get's chain with
// the "derpkey" metacert for serverKey appended. A Tailscale client that
// negotiates TLS 1.3 reads the server's DERP key from it and starts the
// DERP handshake without waiting for an HTTP response (fast start). The
// metacert has a fresh Ed25519 key, serial number = DERP protocol version,
// Subject and Issuer CN "derpkey" + the key's 64 hex digits, no SANs, and is
// valid from 30 days before now to 30 days after. get's certificates are
// never modified: each handshake gets a copy.
func WithMetaCert(get GetCertificateFunc, serverKey key.NodePublic) (GetCertificateFunc, error) {
	der, err := newMetaCert(serverKey, time.Now())
	if err != nil {
		return nil, err
	}
	return func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		c, err := get(hello)
		if err != nil || c == nil {
			return c, err
		}
		if slices.Contains(hello.SupportedProtos, acmeTLSProto) {
			return c, nil
		}
		withMeta := *c
		withMeta.Certificate = append(slices.Clip(c.Certificate), der)
		return &withMeta, nil
	}, nil
}

func newMetaCert(serverKey key.NodePublic, now time.Time) ([]byte, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("metacert: %w", err)
	}
	name := pkix.Name{CommonName: certs.MetaCertPrefix + serverKey.UntypedHex()}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(wire.ProtocolVersion),
		Subject:               name,
		Issuer:                name,
		NotBefore:             now.Add(-metaCertLifetime),
		NotAfter:              now.Add(metaCertLifetime),
		BasicConstraintsValid: true,
		IsCA:                  false,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	if err != nil {
		return nil, fmt.Errorf("metacert: %w", err)
	}
	return der, nil
}
