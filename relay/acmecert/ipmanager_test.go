package acmecert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"
)

// testCert makes a certificate for ip valid from nb to na.
func testCert(t *testing.T, ip netip.Addr, nb, na time.Time) ([][]byte, *ecdsa.PrivateKey, *x509.Certificate) {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: nb, NotAfter: na, IPAddresses: []net.IP{ip.AsSlice()}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return [][]byte{der}, k, leaf
}

func TestIPManagerGetCertificate(t *testing.T) {
	ip := netip.MustParseAddr("203.0.113.7")
	m, err := NewIPManager(ip, Options{CacheDir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.GetCertificate(&tls.ClientHelloInfo{}); err == nil {
		t.Fatal("a certificate before issuance")
	}
	chain, k, leaf := testCert(t, ip, time.Now(), time.Now().Add(6*24*time.Hour))
	m.setCert(&tls.Certificate{Certificate: chain, PrivateKey: k, Leaf: leaf})
	if !m.Health().Available() {
		t.Fatal("not available after a certificate was set")
	}
	for _, tc := range []struct {
		sni string
		ok  bool
	}{{"", true}, {"203.0.113.7", true}, {"203.0.113.8", false}, {"relay.example.com", false}} {
		_, err := m.GetCertificate(&tls.ClientHelloInfo{ServerName: tc.sni})
		if (err == nil) != tc.ok {
			t.Errorf("SNI %q: err %v, want ok=%v", tc.sni, err, tc.ok)
		}
	}
}

func TestIPManagerRenewalTiming(t *testing.T) {
	ip := netip.MustParseAddr("192.0.2.1")
	m, _ := NewIPManager(ip, Options{CacheDir: t.TempDir()}, nil)
	if m.untilRenewal() != 0 {
		t.Fatal("no certificate should mean obtain now")
	}
	now := time.Now()
	for _, tc := range []struct {
		name     string
		nb, na   time.Time
		wantZero bool
	}{
		{"fresh_six_days", now, now.Add(6 * 24 * time.Hour), false},
		{"two_thirds_used", now.Add(-5 * 24 * time.Hour), now.Add(24 * time.Hour), true},
		{"expired", now.Add(-7 * 24 * time.Hour), now.Add(-time.Hour), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			chain, k, leaf := testCert(t, ip, tc.nb, tc.na)
			m.setCert(&tls.Certificate{Certificate: chain, PrivateKey: k, Leaf: leaf})
			got := m.untilRenewal()
			if (got <= 0) != tc.wantZero {
				t.Fatalf("untilRenewal %v, want renewal now = %v", got, tc.wantZero)
			}
			if got > time.Hour {
				t.Fatalf("untilRenewal %v: must re-check at least hourly", got)
			}
		})
	}
}

func TestIPManagerReloadsCachedCert(t *testing.T) {
	dir := t.TempDir()
	ip := netip.MustParseAddr("2001:db8::7")
	m, _ := NewIPManager(ip, Options{CacheDir: dir}, nil)
	chain, k, _ := testCert(t, ip, time.Now(), time.Now().Add(24*time.Hour))
	if err := m.save(chain, k); err != nil {
		t.Fatal(err)
	}
	again, err := NewIPManager(ip, Options{CacheDir: dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := again.GetCertificate(&tls.ClientHelloInfo{}); err != nil || c.Leaf == nil {
		t.Fatalf("cached certificate not loaded: %v", err)
	}
	if got := again.certPath(); got != dir+"/2001.db8..7.crt" {
		t.Errorf("cert file %s", got)
	}
}

func TestIPManagerHTTPHandler(t *testing.T) {
	m, _ := NewIPManager(netip.MustParseAddr("192.0.2.1"), Options{CacheDir: t.TempDir()}, nil)
	m.tokens.Store("/.well-known/acme-challenge/abc", "abc.thumb")
	h := m.HTTPHandler(http.NotFoundHandler())
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/.well-known/acme-challenge/abc", nil))
	if rec.Code != 200 || rec.Body.String() != "abc.thumb" {
		t.Fatalf("challenge: %d %q", rec.Code, rec.Body.String())
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/.well-known/acme-challenge/other", nil))
	if rec.Code != 404 {
		t.Fatalf("unknown token: %d", rec.Code)
	}
}
