// Package testcert makes certificates for tests: a self-signed leaf for a
// host name and 127.0.0.1, written as derper's manual certificate mode
// reads it when needed, and the "derpkey" metacert a DERP server appends
// to its chain. Production certificates come from internal/certs; this
// package exists so that tests need not repeat x509 templates.
package testcert

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Leaf is a self-signed ECDSA server certificate valid from notBefore to
// notAfter for 127.0.0.1 and, unless host is "" or an IP address, for the
// DNS name host. Its Leaf field is set.
func Leaf(t testing.TB, host string, notBefore, notAfter time.Time) tls.Certificate {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(t),
		Subject:               pkix.Name{CommonName: host},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	if host == "" {
		tmpl.Subject.CommonName = "127.0.0.1"
	} else if net.ParseIP(host) == nil {
		tmpl.DNSNames = []string{host}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: priv, Leaf: leaf}
}

// ValidNow is Leaf valid from an hour ago to an hour from now.
func ValidNow(t testing.TB, host string) tls.Certificate {
	t.Helper()
	return Leaf(t, host, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
}

// WriteFiles writes c as dir/name.crt and dir/name.key (mode 0600), the
// files derper's and relayctl's manual certificate mode read for name.
func WriteFiles(t testing.TB, dir, name string, c tls.Certificate) {
	t.Helper()
	keyDER, err := x509.MarshalECPrivateKey(c.PrivateKey.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, filepath.Join(dir, name+".crt"), "CERTIFICATE", c.Certificate[0], 0o644)
	writePEM(t, filepath.Join(dir, name+".key"), "EC PRIVATE KEY", keyDER, 0o600)
}

func writePEM(t testing.TB, path, blockType string, der []byte, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: blockType, Bytes: der}), mode); err != nil {
		t.Fatal(err)
	}
}

// MetaCert is a certificate like the one a DERP server appends to its TLS
// chain to carry its key: commonName is "derpkey" and the key's hex.
func MetaCert(t testing.TB, commonName string) *x509.Certificate {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: serial(t), Subject: pkix.Name{CommonName: commonName},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// serial is a random 128-bit serial number, so no two test certificates
// look alike to a client's cache.
func serial(t testing.TB) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		t.Fatal(err)
	}
	return n
}
