package acmecert

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
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

func TestRequiresEAB(t *testing.T) {
	for _, required := range []bool{false, true} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, `{"newNonce":"%[1]s/nonce","newAccount":"%[1]s/acct","newOrder":"%[1]s/order","meta":{"externalAccountRequired":%[2]v}}`, "http://"+r.Host, required)
		}))
		got, err := RequiresEAB(t.Context(), Options{DirectoryURL: srv.URL, HTTPClient: srv.Client()})
		srv.Close()
		if err != nil || got != required {
			t.Errorf("directory with externalAccountRequired=%v: got %v, %v", required, got, err)
		}
	}
	if _, err := RequiresEAB(t.Context(), Options{DirectoryURL: "http://127.0.0.1:1/dir"}); err == nil || !strings.Contains(err.Error(), "ACME directory http://127.0.0.1:1/dir") {
		t.Errorf("unreachable directory: error %v", err)
	}
}
