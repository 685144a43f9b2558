package testcert

import (
	"crypto/tls"
	"crypto/x509"
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
