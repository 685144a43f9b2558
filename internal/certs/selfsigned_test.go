package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net/netip"
	"slices"
	"testing"
	"time"
)

func parseCertPEM(t *testing.T, certPEM []byte) *x509.Certificate {
	t.Helper()
	block, rest := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" || len(rest) != 0 {
		t.Fatalf("certificate PEM: want exactly one CERTIFICATE block, got %q", certPEM)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSelfSigned(t *testing.T) {
	tests := []struct {
		name     string
		ip       string
		hostname string
		wantCN   string
		wantDNS  []string
	}{
		{"ipv4", "203.0.113.7", "", "203.0.113.7", nil},
		{"ipv4_and_name", "127.0.0.1", "localhost", "localhost", []string{"localhost"}},
		{"ipv6", "2001:db8::1", "", "2001:db8::1", nil},
		{"mapped_ipv4", "::ffff:198.51.100.1", "", "198.51.100.1", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := time.Now()
			certPEM, keyPEM, err := SelfSigned(netip.MustParseAddr(tt.ip), tt.hostname, 48*time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
				t.Fatalf("certificate and key do not pair: %v", err)
			}
			if block, _ := pem.Decode(keyPEM); block == nil || block.Type != "PRIVATE KEY" {
				t.Fatalf("key PEM %q: want a PKCS #8 PRIVATE KEY block", keyPEM)
			}
			c := parseCertPEM(t, certPEM)
			ip := netip.MustParseAddr(tt.ip).Unmap()
			if c.Subject.CommonName != tt.wantCN || c.Issuer.CommonName != tt.wantCN {
				t.Errorf("subject %q issuer %q, want CN %q", c.Subject, c.Issuer, tt.wantCN)
			}
			if len(c.IPAddresses) != 1 || !c.IPAddresses[0].Equal(ip.AsSlice()) {
				t.Errorf("IP SANs %v, want [%s]", c.IPAddresses, ip)
			}
			if !slices.Equal(c.DNSNames, tt.wantDNS) {
				t.Errorf("DNS SANs %v, want %v", c.DNSNames, tt.wantDNS)
			}
			for _, h := range append([]string{ip.String()}, tt.wantDNS...) {
				if err := c.VerifyHostname(h); err != nil {
					t.Errorf("VerifyHostname(%q): %v", h, err)
				}
			}
			if !c.BasicConstraintsValid || c.IsCA {
				t.Errorf("basic constraints valid=%v CA=%v, want valid, not a CA", c.BasicConstraintsValid, c.IsCA)
			}
			if !slices.Equal(c.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}) {
				t.Errorf("ExtKeyUsage %v, want ServerAuth", c.ExtKeyUsage)
			}
			if c.KeyUsage != x509.KeyUsageDigitalSignature {
				t.Errorf("KeyUsage %v, want DigitalSignature", c.KeyUsage)
			}
			pub, ok := c.PublicKey.(*ecdsa.PublicKey)
			if !ok || pub.Curve != elliptic.P256() {
				t.Errorf("public key %T, want ECDSA P-256", c.PublicKey)
			}
			if err := c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature); err != nil {
				t.Errorf("not self-signed: %v", err)
			}
			if c.NotBefore.After(before) || c.NotBefore.Before(before.Add(-2*time.Hour)) {
				t.Errorf("NotBefore %v, want shortly before %v", c.NotBefore, before)
			}
			if d := c.NotAfter.Sub(before); d < 47*time.Hour || d > 49*time.Hour {
				t.Errorf("NotAfter %v is %v after start, want 48h", c.NotAfter, d)
			}
			if c.SerialNumber.Sign() <= 0 || c.SerialNumber.BitLen() > 128 {
				t.Errorf("serial %v, want positive and under 2^128", c.SerialNumber)
			}
		})
	}
}

func TestSelfSignedSerialsDiffer(t *testing.T) {
	a, _, err := SelfSigned(netip.MustParseAddr("127.0.0.1"), "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := SelfSigned(netip.MustParseAddr("127.0.0.1"), "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if parseCertPEM(t, a).SerialNumber.Cmp(parseCertPEM(t, b).SerialNumber) == 0 {
		t.Fatal("two certificates share a serial number")
	}
}

func TestSelfSignedErrors(t *testing.T) {
	tests := []struct {
		name     string
		ip       netip.Addr
		hostname string
		validFor time.Duration
	}{
		{"no_ip", netip.Addr{}, "", time.Hour},
		{"zero_validity", netip.MustParseAddr("127.0.0.1"), "", 0},
		{"hostname_is_ip", netip.MustParseAddr("127.0.0.1"), "10.0.0.1", time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := SelfSigned(tt.ip, tt.hostname, tt.validFor); err == nil {
				t.Fatal("want an error")
			}
		})
	}
}
