package testcert

import (
	"crypto/tls"
	"crypto/x509"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLeaf(t *testing.T) {
	for _, tc := range []struct {
		host      string
		wantNames []string
	}{
		{"localhost", []string{"localhost"}},
		{"", nil},
		{"127.0.0.1", nil},
	} {
		t.Run("host_"+tc.host, func(t *testing.T) {
			c := ValidNow(t, tc.host)
			pool := x509.NewCertPool()
			pool.AddCert(c.Leaf)
			for _, name := range append(tc.wantNames, "127.0.0.1") {
				if _, err := c.Leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: pool}); err != nil {
					t.Errorf("not valid for %s: %v", name, err)
				}
			}
			if len(c.Leaf.DNSNames) != len(tc.wantNames) {
				t.Errorf("DNS names %v, want %v", c.Leaf.DNSNames, tc.wantNames)
			}
		})
	}
	expired := Leaf(t, "localhost", time.Now().Add(-2*time.Hour), time.Now().Add(-time.Hour))
	if time.Now().Before(expired.Leaf.NotAfter) {
		t.Errorf("NotAfter %v not honoured", expired.Leaf.NotAfter)
	}
	if ValidNow(t, "").Leaf.SerialNumber.Cmp(ValidNow(t, "").Leaf.SerialNumber) == 0 {
		t.Error("two leaves share a serial number")
	}
}

func TestWriteFilesLoads(t *testing.T) {
	dir := t.TempDir()
	c := ValidNow(t, "localhost")
	WriteFiles(t, dir, "localhost", c)
	got, err := tls.LoadX509KeyPair(filepath.Join(dir, "localhost.crt"), filepath.Join(dir, "localhost.key"))
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Certificate[0]) != string(c.Certificate[0]) {
		t.Error("written certificate differs")
	}
}

func TestMetaCert(t *testing.T) {
	cn := "derpkey" + strings.Repeat("ab", 32)
	if got := MetaCert(t, cn).Subject.CommonName; got != cn {
		t.Errorf("common name %q, want %q", got, cn)
	}
}

func TestNewCoversOnlyItsNames(t *testing.T) {
	c := New(t, Spec{DNS: []string{"relay.test"}, IPs: []netip.Addr{netip.MustParseAddr("127.0.0.2")}})
	pool := x509.NewCertPool()
	pool.AddCert(c.Leaf)
	for _, tc := range []struct {
		name  string
		valid bool
	}{
		{"relay.test", true},
		{"127.0.0.2", true},
		{"127.0.0.1", false},
		{"other.test", false},
	} {
		_, err := c.Leaf.Verify(x509.VerifyOptions{DNSName: tc.name, Roots: pool})
		if (err == nil) != tc.valid {
			t.Errorf("%s: verify error %v, want valid %v", tc.name, err, tc.valid)
		}
	}
	if !c.Leaf.NotBefore.Before(time.Now()) || !c.Leaf.NotAfter.After(time.Now()) {
		t.Errorf("zero times gave %v to %v, want a window around now", c.Leaf.NotBefore, c.Leaf.NotAfter)
	}
	certPEM, keyPEM := PEM(t, c)
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		t.Errorf("PEM does not load: %v", err)
	}
}

// TestCheckFileModes: a key readable by others is reported.
func TestCheckFileModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	WriteFiles(t, dir, "localhost", ValidNow(t, "localhost"))
	crt, key := filepath.Join(dir, "localhost.crt"), filepath.Join(dir, "localhost.key")
	CheckFileModes(t, dir, crt, key)
	if err := os.Chmod(key, 0o644); err != nil {
		t.Fatal(err)
	}
	rec := &recordingTB{TB: t}
	CheckFileModes(rec, dir, crt, key)
	if !rec.failed {
		t.Error("a key with mode 0644 passed")
	}
}

// recordingTB notes a failure instead of failing the test.
type recordingTB struct {
	testing.TB
	failed bool
}

func (r *recordingTB) Errorf(string, ...any) { r.failed = true }
func (r *recordingTB) Fatal(...any)          { r.failed = true }
