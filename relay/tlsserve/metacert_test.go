package tlsserve

import (
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/relayctl/relayctl/internal/certs"
	"github.com/relayctl/relayctl/internal/derpmap"
	"github.com/relayctl/relayctl/internal/testcert"
	"github.com/relayctl/relayctl/relay/client"
	"github.com/relayctl/relayctl/relay/key"
)

var (
	testServerKey = key.NewNode().Public()
	tlsHello      = tls.ClientHelloInfo{}
)

func staticGet(t *testing.T) (GetCertificateFunc, *tls.Certificate, []byte) {
	t.Helper()
	certPEM, keyPEM := makePair(t, testcert.Spec{IPs: []netip.Addr{netip.MustParseAddr("127.0.0.1")}})
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &c, nil }, &c, certPEM
}

func TestWithMetaCert(t *testing.T) {
	get, orig, certPEM := staticGet(t)
	start := time.Now()
	addr, withMeta := startMetaEchoTLS(t, get)

	c, err := dialTLS(t, addr, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	cs := c.ConnectionState()
	if cs.Version != tls.VersionTLS13 {
		t.Fatalf("negotiated %s, want TLS 1.3", tls.VersionName(cs.Version))
	}
	if len(cs.PeerCertificates) != 2 {
		t.Fatalf("chain of %d certificates, want [leaf, metacert]", len(cs.PeerCertificates))
	}
	if got := certs.CertName(cs.PeerCertificates[0].Raw); got != pinOf(t, certPEM) {
		t.Fatal("first certificate is not the leaf")
	}
	meta := cs.PeerCertificates[1]
	checks := []struct {
		name string
		ok   bool
	}{
		{"cn_is_derpkey_and_hex", meta.Subject.CommonName == "derpkey"+testServerKey.UntypedHex()},
		{"issuer_is_subject", meta.Issuer.CommonName == meta.Subject.CommonName},
		{"serial_is_protocol_version", meta.SerialNumber.Int64() == 2},
		{"ed25519", meta.PublicKeyAlgorithm == x509.Ed25519},
		{"not_ca", meta.BasicConstraintsValid && !meta.IsCA},
		{"no_sans", len(meta.DNSNames) == 0 && len(meta.IPAddresses) == 0},
		{"not_before_30d", abs(start.Add(-30*24*time.Hour).Sub(meta.NotBefore)) < time.Minute},
		{"not_after_30d", abs(start.Add(30*24*time.Hour).Sub(meta.NotAfter)) < time.Minute},
		{"self_signed", meta.CheckSignature(meta.SignatureAlgorithm, meta.RawTBSCertificate, meta.Signature) == nil},
		{"is_metacert", certs.IsMetaCert(meta)},
	}
	for _, ck := range checks {
		if !ck.ok {
			t.Errorf("metacert check %s failed: %+v", ck.name, meta)
		}
	}
	if _, ok := meta.PublicKey.(ed25519.PublicKey); !ok {
		t.Errorf("metacert key %T, want Ed25519", meta.PublicKey)
	}

	// Pinning clients look past the metacert.
	if err := client.VerifyNodeCert(&derpmap.DERPNode{CertName: pinOf(t, certPEM)}, cs, nil, time.Now()); err != nil {
		t.Fatalf("pin check with the metacert in the chain: %v", err)
	}

	// The wrapped source's certificate is never changed.
	for range 3 {
		if _, err := withMeta(&tls.ClientHelloInfo{}); err != nil {
			t.Fatal(err)
		}
	}
	if len(orig.Certificate) != 1 {
		t.Fatalf("source certificate now has %d DER entries, want 1", len(orig.Certificate))
	}
}

func TestWithMetaCertSkipsACMEChallenge(t *testing.T) {
	get, _, _ := staticGet(t)
	withMeta, err := WithMetaCert(get, testServerKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := withMeta(&tls.ClientHelloInfo{SupportedProtos: []string{"acme-tls/1"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Certificate) != 1 {
		t.Fatalf("acme-tls/1 handshake got %d certificates, want only the challenge certificate", len(c.Certificate))
	}
}

func TestWithMetaCertPassesErrors(t *testing.T) {
	withMeta, err := WithMetaCert(func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return nil, errNoCert }, testServerKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := withMeta(&tls.ClientHelloInfo{}); err != errNoCert {
		t.Fatalf("error %v, want the source's", err)
	}
}

func TestServerConfig(t *testing.T) {
	get, _, _ := staticGet(t)
	cfg := ServerConfig(get, "acme-tls/1")
	if cfg.MinVersion != tls.VersionTLS12 {
		t.Errorf("MinVersion %x, want TLS 1.2", cfg.MinVersion)
	}
	if !slices.Equal(cfg.NextProtos, []string{"http/1.1", "acme-tls/1"}) {
		t.Errorf("NextProtos %q", cfg.NextProtos)
	}
	addr := startEchoTLS(t, ServerConfig(get))
	if _, err := dialTLS(t, addr, "", tls.VersionTLS11); err == nil || !strings.Contains(err.Error(), "protocol version") {
		t.Errorf("TLS 1.1 handshake: %v, want the server's protocol version alert", err)
	}
	c, err := dialTLS(t, addr, "", tls.VersionTLS12)
	if err != nil {
		t.Fatalf("TLS 1.2 handshake: %v", err)
	}
	echo(t, c, "tls12")
}

func abs(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}
