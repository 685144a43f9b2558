package acmecert

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
)

func TestParseEAB(t *testing.T) {
	tests := []struct {
		kid, key string
		want     []byte
		wantErr  string
	}{
		{kid: "k", key: "c2VjcmV0", want: []byte("secret")},      // base64 without padding need
		{kid: "k", key: "c2VjcmV0MQ==", want: []byte("secret1")}, // standard, padded (gcloud)
		{kid: "k", key: "c2VjcmV0MQ", want: []byte("secret1")},   // base64url, unpadded (ACME)
		{kid: "k", key: "-_8", want: []byte{0xfb, 0xff}},         // base64url alphabet
		{kid: "k", key: " c2VjcmV0\n", want: []byte("secret")},   // pasted with blanks
		{kid: "k", key: "not base64!", wantErr: "not base64"},
		{kid: "k", key: "", wantErr: "empty HMAC key"},
		{kid: "", key: "c2VjcmV0", wantErr: "empty key ID"},
	}
	for _, tt := range tests {
		eab, err := ParseEAB(tt.kid, tt.key)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseEAB(%q, %q) error %v, want %q", tt.kid, tt.key, err, tt.wantErr)
			}
			continue
		}
		if err != nil || eab.KID != tt.kid || !bytes.Equal(eab.Key, tt.want) {
			t.Errorf("ParseEAB(%q, %q) = %+v, %v; want key %x", tt.kid, tt.key, eab, err, tt.want)
		}
	}
}

// TestRequiresEABFetchesTheDirectoryOnce: the EAB check and the
// certificate requests share one ACME client, so the CA's directory is
// fetched once however often either asks.
func TestRequiresEABFetchesTheDirectoryOnce(t *testing.T) {
	for _, required := range []bool{false, true} {
		var fetches atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/dir" {
				http.Error(w, "not an ACME CA", http.StatusNotFound)
				return
			}
			fetches.Add(1)
			fmt.Fprintf(w, `{"newNonce":"%[1]s/nonce","newAccount":"%[1]s/acct","newOrder":"%[1]s/order","meta":{"externalAccountRequired":%[2]v}}`, "http://"+r.Host, required)
		}))
		opts := Options{DirectoryURL: srv.URL + "/dir", HTTPClient: srv.Client(), CacheDir: t.TempDir()}
		h := NewHost("relay.test", opts, nil)
		ipm, err := NewIPManager(netip.MustParseAddr("192.0.2.1"), opts, nil)
		if err != nil {
			t.Fatal(err)
		}
		for name, check := range map[string]func() (bool, error){"host": func() (bool, error) { return h.RequiresEAB(t.Context()) }, "ip": func() (bool, error) { return ipm.RequiresEAB(t.Context()) }} {
			if got, err := check(); err != nil || got != required {
				t.Errorf("%s: directory with externalAccountRequired=%v: got %v, %v", name, required, got, err)
			}
		}
		// The certificate requests read the directory from the same client.
		h.m.GetCertificate(h.hello())
		ipm.obtain(t.Context())
		srv.Close()
		if n := fetches.Load(); n != 2 {
			t.Errorf("directory fetched %d times by two managers, want once each", n)
		}
	}
	h := NewHost("relay.test", Options{DirectoryURL: "http://127.0.0.1:1/dir", CacheDir: t.TempDir()}, nil)
	if _, err := h.RequiresEAB(t.Context()); err == nil || !strings.Contains(err.Error(), "ACME directory http://127.0.0.1:1/dir") {
		t.Errorf("unreachable directory: error %v", err)
	}
}
