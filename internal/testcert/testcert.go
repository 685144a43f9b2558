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
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Spec names what a certificate from New covers and when. A zero
// NotBefore is an hour ago, a zero NotAfter an hour from now.
type Spec struct {
	CommonName          string
	DNS                 []string
	IPs                 []netip.Addr
	NotBefore, NotAfter time.Time
}

// New is a self-signed ECDSA server certificate as spec says. Its Leaf
// field is set.
func New(t testing.TB, spec Spec) tls.Certificate {
	t.Helper()
	if spec.NotBefore.IsZero() {
		spec.NotBefore = time.Now().Add(-time.Hour)
	}
	if spec.NotAfter.IsZero() {
		spec.NotAfter = time.Now().Add(time.Hour)
	}
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(t),
		Subject:               pkix.Name{CommonName: spec.CommonName},
		NotBefore:             spec.NotBefore,
		NotAfter:              spec.NotAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              spec.DNS,
	}
	for _, ip := range spec.IPs {
		tmpl.IPAddresses = append(tmpl.IPAddresses, ip.AsSlice())
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

// Leaf is New valid from notBefore to notAfter for 127.0.0.1 and, unless
// host is "" or an IP address, for the DNS name host.
func Leaf(t testing.TB, host string, notBefore, notAfter time.Time) tls.Certificate {
	t.Helper()
	spec := Spec{CommonName: host, IPs: []netip.Addr{netip.AddrFrom4([4]byte{127, 0, 0, 1})}, NotBefore: notBefore, NotAfter: notAfter}
	if host == "" {
		spec.CommonName = "127.0.0.1"
	} else if net.ParseIP(host) == nil {
		spec.DNS = []string{host}
	}
	return New(t, spec)
}

// ValidNow is Leaf valid from an hour ago to an hour from now.
func ValidNow(t testing.TB, host string) tls.Certificate {
	t.Helper()
	return Leaf(t, host, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
}

// PEM is c's certificate and key (EC PRIVATE KEY) in PEM.
func PEM(t testing.TB, c tls.Certificate) (certPEM, keyPEM []byte) {
	t.Helper()
	keyDER, err := x509.MarshalECPrivateKey(c.PrivateKey.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
}

// WriteFiles writes c as dir/name.crt and dir/name.key (mode 0600), the
// files derper's and relayctl's manual certificate mode read for name.
func WriteFiles(t testing.TB, dir, name string, c tls.Certificate) {
	t.Helper()
	certPEM, keyPEM := PEM(t, c)
	writeFile(t, filepath.Join(dir, name+".crt"), certPEM, 0o644)
	writeFile(t, filepath.Join(dir, name+".key"), keyPEM, 0o600)
}

func writeFile(t testing.TB, path string, data []byte, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, data, mode); err != nil {
		t.Fatal(err)
	}
}

// CheckFileModes fails t unless the certificate directory dir and the
// pair written in it have the modes a writer of certificates must give
// them: 0700, 0644 for the certificate crt, 0600 for the key.
func CheckFileModes(t testing.TB, dir, crt, key string) {
	t.Helper()
	for path, want := range map[string]os.FileMode{dir: 0o700, crt: 0o644, key: 0o600} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s mode %v, want %v", path, fi.Mode().Perm(), want)
		}
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
