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

func TestValidPin(t *testing.T) {
	good := CertName([]byte("abc"))
	tests := []struct {
		name string
		in   string
		want bool
	}{
		{"certname", good, true},
		{"upper_case", strings.ToUpper(good[:len(PinPrefix)]) + good[len(PinPrefix):], false},
		{"upper_hex", PinPrefix + strings.ToUpper(good[len(PinPrefix):]), false},
		{"short", good[:len(good)-1], false},
		{"long", good + "0", false},
		{"not_hex", good[:len(good)-1] + "g", false},
		{"no_prefix", good[len(PinPrefix):], false},
		{"name", "derp.example.net", false},
		{"empty", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ValidPin(tt.in); got != tt.want {
				t.Errorf("ValidPin(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}
