package certs

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// PinPrefix starts a CertName that pins a leaf by the SHA-256 of its DER.
const PinPrefix = "sha256-raw:"

// MetaCertPrefix starts the Subject CN of the "derpkey" metacert a DERP
// server appends to its chain; pin checks skip that certificate.
const MetaCertPrefix = "derpkey"

// CertName is the DERP map CertName that pins the certificate der:
// "sha256-raw:" and the lowercase hex SHA-256 of the DER bytes.
func CertName(der []byte) string {
	sum := sha256.Sum256(der)
	return PinPrefix + hex.EncodeToString(sum[:])
}

// VerifyPinned returns a tls.Config.VerifyConnection function that accepts
// a server exactly when a Tailscale client given CertName certName would:
// ignoring any metacert, exactly one certificate must be presented, its
// hash must match the pin (lowercase hex, compared exactly), it must be
// within its validity period, and it must cover the TLS server name when
// one was sent (an IP-literal server name sends none). Use it with
// InsecureSkipVerify, which only turns off the chain check it replaces.
func VerifyPinned(certName string, now func() time.Time) (func(tls.ConnectionState) error, error) {
	want, ok := strings.CutPrefix(certName, PinPrefix)
	if !ok {
		return nil, fmt.Errorf("CertName %q: not a %s pin", certName, PinPrefix)
	}
	if now == nil {
		now = time.Now
	}
	return func(cs tls.ConnectionState) error {
		var leaf *x509.Certificate
		for _, c := range cs.PeerCertificates {
			if IsMetaCert(c) {
				continue
			}
			if leaf != nil {
				return errors.New("pinned certificate: server presented more than one certificate besides the metacert")
			}
			leaf = c
		}
		if leaf == nil {
			return errors.New("pinned certificate: server presented none")
		}
		if got := CertName(leaf.Raw); got != PinPrefix+want {
			return fmt.Errorf("pinned certificate: server presented %s, want %s", got, certName)
		}
		if cs.ServerName != "" {
			if err := leaf.VerifyHostname(cs.ServerName); err != nil {
				return fmt.Errorf("pinned certificate: %w", err)
			}
		}
		t := now()
		if t.Before(leaf.NotBefore) {
			return fmt.Errorf("pinned certificate: not valid before %v", leaf.NotBefore.UTC())
		}
		if t.After(leaf.NotAfter) {
			return fmt.Errorf("pinned certificate: expired at %v", leaf.NotAfter.UTC())
		}
		return nil
	}, nil
}

// IsMetaCert reports whether c is a DERP server's "derpkey" metacert,
// which carries the server's DERP key and is no part of the real chain.
func IsMetaCert(c *x509.Certificate) bool {
	return strings.HasPrefix(c.Subject.CommonName, MetaCertPrefix)
}
