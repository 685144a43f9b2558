package certs

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
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

func TestVerifyPinned(t *testing.T) {
	leaf := selfSignedLeaf(t, "localhost")
	other := selfSignedLeaf(t, "")
	meta := metaCert(t)
	pin := CertName(leaf.Raw)
	now := time.Now()
	tests := []struct {
		name       string
		certName   string
		serverName string
		chain      []*x509.Certificate
		at         time.Time
		wantErr    string // "" means accepted
	}{
		{"leaf_only", pin, "", []*x509.Certificate{leaf}, now, ""},
		{"leaf_and_metacert", pin, "", []*x509.Certificate{leaf, meta}, now, ""},
		{"metacert_first", pin, "", []*x509.Certificate{meta, leaf}, now, ""},
		{"server_name_covered", pin, "localhost", []*x509.Certificate{leaf, meta}, now, ""},
		{"server_name_not_covered", pin, "example.com", []*x509.Certificate{leaf}, now, "example.com"},
		{"wrong_pin", CertName(other.Raw), "", []*x509.Certificate{leaf}, now, "want sha256-raw:"},
		{"upper_case_pin", strings.ToUpper(pin[:len(PinPrefix)]) + strings.ToUpper(pin[len(PinPrefix):]), "", []*x509.Certificate{leaf}, now, "not a sha256-raw: pin"},
		{"upper_case_hex", PinPrefix + strings.ToUpper(pin[len(PinPrefix):]), "", []*x509.Certificate{leaf}, now, "want sha256-raw:"},
		{"extra_cert", pin, "", []*x509.Certificate{leaf, other}, now, "more than one"},
		{"only_metacert", pin, "", []*x509.Certificate{meta}, now, "presented none"},
		{"expired", pin, "", []*x509.Certificate{leaf}, leaf.NotAfter.Add(time.Second), "expired"},
		{"not_yet_valid", pin, "", []*x509.Certificate{leaf}, leaf.NotBefore.Add(-time.Second), "not valid before"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			verify, err := VerifyPinned(tt.certName, func() time.Time { return tt.at })
			if err == nil {
				err = verify(tls.ConnectionState{ServerName: tt.serverName, PeerCertificates: tt.chain})
			}
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("rejected: %v", err)
			case tt.wantErr != "" && err == nil:
				t.Fatalf("accepted, want an error containing %q", tt.wantErr)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Fatalf("error %q, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestIsMetaCert(t *testing.T) {
	if !IsMetaCert(metaCert(t)) {
		t.Error("metacert not recognised")
	}
	if IsMetaCert(selfSignedLeaf(t, "")) {
		t.Error("leaf taken for a metacert")
	}
}
