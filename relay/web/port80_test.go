package web

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestPort80Handler(t *testing.T) {
	main := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("main:" + r.URL.Path)) })
	acme := func(fallback http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/.well-known/acme-challenge/tok" {
				w.Write([]byte("tok.thumb"))
				return
			}
			fallback.ServeHTTP(w, r)
		})
	}
	h := Port80Handler(main, acme)
	for _, tc := range []struct {
		name, method, path, remote, xff string
		wantCode                        int
		wantLoc, wantBody               string
	}{
		{"generate_204", "GET", "/generate_204", "203.0.113.9:1", "", 204, "", ""},
		{"acme_challenge", "GET", "/.well-known/acme-challenge/tok", "203.0.113.9:1", "", 200, "", "tok.thumb"},
		{"debug_via_main", "GET", "/debug/", "127.0.0.1:1", "", 200, "", "main:/debug/"},
		// Debug access needs Host to be an IP or localhost (DNS rebinding).
		{"root_from_loopback_by_name", "GET", "/", "127.0.0.1:1", "", 302, "https://relay.example:80/", ""},
		{"root_forwarded", "GET", "/", "127.0.0.1:1", "198.51.100.1", 302, "https://relay.example:80/", ""},
		{"root_remote", "GET", "/", "203.0.113.9:1", "", 302, "https://relay.example:80/", ""},
		{"derp_redirected", "GET", "/derp", "203.0.113.9:1", "", 302, "https://relay.example:80/derp", ""},
		{"query_kept", "HEAD", "/x?y=1", "203.0.113.9:1", "", 302, "https://relay.example:80/x?y=1", ""},
		{"post_refused", "POST", "/", "203.0.113.9:1", "", 400, "", "Use HTTPS\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, "http://relay.example:80"+tc.path, nil)
			req.RemoteAddr = tc.remote
			if tc.xff != "" {
				req.Header.Set("X-Forwarded-For", tc.xff)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.wantCode {
				t.Fatalf("status %d, want %d", rec.Code, tc.wantCode)
			}
			if loc := rec.Header().Get("Location"); loc != tc.wantLoc {
				t.Errorf("Location %q, want %q", loc, tc.wantLoc)
			}
			if tc.wantBody != "" && rec.Body.String() != tc.wantBody {
				t.Errorf("body %q, want %q", rec.Body.String(), tc.wantBody)
			}
		})
	}
}
