package certs

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"strings"
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

// IsPin reports whether certName is a well-formed pin: "sha256-raw:" and
// 64 lowercase hex digits. Clients compare the hex exactly, so an
// upper-case pin never matches.
func IsPin(certName string) bool {
	h, ok := strings.CutPrefix(certName, PinPrefix)
	if !ok || len(h) != 2*sha256.Size {
		return false
	}
	for _, c := range h {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// IsMetaCert reports whether c is a DERP server's "derpkey" metacert,
// which carries the server's DERP key and is no part of the real chain.
func IsMetaCert(c *x509.Certificate) bool {
	return strings.HasPrefix(c.Subject.CommonName, MetaCertPrefix)
}
