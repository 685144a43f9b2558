package certs

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestCertName(t *testing.T) {
	// SHA-256("abc") from FIPS 180-2.
	const want = "sha256-raw:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
	if got := CertName([]byte("abc")); got != want {
		t.Fatalf("CertName(abc) = %s, want %s", got, want)
	}
}

func TestIsPin(t *testing.T) {
	hex64 := strings.Repeat("0123456789abcdef", 4)
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{PinPrefix + hex64, true},
		{CertName([]byte("abc")), true},
		{PinPrefix + strings.ToUpper(hex64), false},
		{PinPrefix + hex64[:63], false},
		{PinPrefix + hex64 + "0", false},
		{PinPrefix + hex64[:63] + "g", false},
		{hex64, false},
		{"relay.example.com", false},
		{PinPrefix, false},
	} {
		if got := IsPin(tc.in); got != tc.want {
			t.Errorf("IsPin(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func selfSignedLeaf(t *testing.T, hostname string) *x509.Certificate {
	t.Helper()
	certPEM, _, err := SelfSigned(netip.MustParseAddr("127.0.0.1"), hostname, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return parseCertPEM(t, certPEM)
}

func metaCert(t *testing.T) *x509.Certificate {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	name := pkix.Name{CommonName: MetaCertPrefix + strings.Repeat("ab", 32)}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: name, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
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

func TestIsMetaCert(t *testing.T) {
	if !IsMetaCert(metaCert(t)) {
		t.Error("metacert not recognised")
	}
	if IsMetaCert(selfSignedLeaf(t, "")) {
		t.Error("leaf taken for a metacert")
	}
}
