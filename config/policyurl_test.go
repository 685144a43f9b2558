package config

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// policyServer serves one policy document over TLS until closed.
type policyServer struct {
	*httptest.Server
	mu   sync.Mutex
	body string
	code int
}

func newPolicyServer(t *testing.T, body string) *policyServer {
	ps := &policyServer{body: body, code: http.StatusOK}
	ps.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ps.mu.Lock()
		defer ps.mu.Unlock()
		w.WriteHeader(ps.code)
		w.Write([]byte(ps.body))
	}))
	t.Cleanup(ps.Close)
	return ps
}

func (ps *policyServer) set(code int, body string) {
	ps.mu.Lock()
	ps.code, ps.body = code, body
	ps.mu.Unlock()
}

// TestPolicyURLHTTPSOnly: a plain-http policy URL is refused, and so is a
// redirect from https to http (it used to be followed, and its
// trusted-proxy: 0.0.0.0/0 applied).
func TestPolicyURLHTTPSOnly(t *testing.T) {
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"settings": {"stun-port": 6666}}`))
	}))
	defer plain.Close()
	redirect := httptest.NewTLSServer(http.RedirectHandler(plain.URL+"/policy.json", http.StatusFound))
	defer redirect.Close()

	tests := []struct {
		name, url, want string
	}{
		{"plain_http", plain.URL + "/policy.json?token=s3cret", "want an https:// URL"},
		{"redirect_to_http", redirect.URL + "/policy.json", "redirect to " + plain.URL + "/policy.json refused"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := NewPolicyFetcher(FetchOptions{HTTPClient: redirect.Client()})
			_, err := Resolve(testSpec(), Sources{Policies: []string{tc.url}, Fetch: f.Fetch})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Fatalf("error shows the URL's token: %v", err)
			}
		})
	}
}

// TestPolicyURLAtStart: serve resolves its settings before it runs, so a
// policy URL must be fetched then (it used to fail with "URLs are read
// only by a running relay"); when the policy server is down at start, the
// copy saved by the last successful fetch is used, and with none the
// start fails naming the URL and the cache directory.
func TestPolicyURLAtStart(t *testing.T) {
	cache := filepath.Join(t.TempDir(), "policy-cache")
	ps := newPolicyServer(t, `{"settings": {"stun-port": 1111}}`)
	policyURL := ps.URL + "/fleet.json?token=s3cret"

	first := NewPolicyFetcher(FetchOptions{HTTPClient: ps.Client(), CacheDir: cache})
	res, err := Resolve(testSpec(), Sources{Policies: []string{policyURL}, Fetch: first.Fetch})
	if err != nil {
		t.Fatal(err)
	}
	if e := entry(t, res, "stun-port"); e.Value != "1111" || e.Source != SourcePolicy {
		t.Fatalf("stun-port %+v, want 1111 from policy", e)
	}
	files, _ := filepath.Glob(filepath.Join(cache, "policy-*.json"))
	if len(files) != 1 {
		t.Fatalf("saved copies %v, want one", files)
	}
	saved, _ := os.ReadFile(files[0])
	if strings.Contains(string(saved), "s3cret") {
		t.Fatalf("the saved copy holds the URL's token:\n%s", saved)
	}
	if fi, _ := os.Stat(files[0]); fi.Mode().Perm()&0o077 != 0 {
		t.Fatalf("saved copy mode %v, want owner-only", fi.Mode())
	}

	// The policy server goes down; the relay restarts (a new fetcher).
	ps.set(http.StatusServiceUnavailable, "down")
	var logs bytes.Buffer
	restarted := NewPolicyFetcher(FetchOptions{HTTPClient: ps.Client(), CacheDir: cache})
	res, err = Resolve(testSpec(), Sources{Policies: []string{policyURL}, Fetch: restarted.Fetch})
	if err != nil {
		t.Fatalf("start with the policy server down and a saved copy: %v", err)
	}
	if e := entry(t, res, "stun-port"); e.Value != "1111" {
		t.Fatalf("stun-port %q from the saved copy, want 1111", e.Value)
	}
	restarted.SetLogger(slog.New(slog.NewTextHandler(&logs, nil)))
	if !strings.Contains(logs.String(), "fleet policy URL unavailable; using the last good copy") || strings.Contains(logs.String(), "s3cret") {
		t.Fatalf("warning missing or showing the token:\n%s", logs.String())
	}

	// No saved copy: the start fails and says why.
	empty := filepath.Join(t.TempDir(), "none")
	_, err = Resolve(testSpec(), Sources{Policies: []string{policyURL}, Fetch: NewPolicyFetcher(FetchOptions{HTTPClient: ps.Client(), CacheDir: empty}).Fetch})
	if err == nil || !strings.Contains(err.Error(), "HTTP 503") || !strings.Contains(err.Error(), "no saved copy in "+empty) {
		t.Fatalf("error %v, want the HTTP status and the missing copy", err)
	}
}

// TestPolicyURLBadDocumentKeepsLastGood: a document that does not parse
// counts as unavailable; the last good copy answers.
func TestPolicyURLBadDocumentKeepsLastGood(t *testing.T) {
	ps := newPolicyServer(t, `{"settings": {"stun-port": 1111}}`)
	f := NewPolicyFetcher(FetchOptions{HTTPClient: ps.Client()})
	if _, err := f.Fetch(ps.URL + "/p.json"); err != nil {
		t.Fatal(err)
	}
	ps.set(http.StatusOK, `{"settings": `)
	b, err := f.Fetch(ps.URL + "/p.json")
	if err != nil || !strings.Contains(string(b), "1111") {
		t.Fatalf("got %q, %v; want the last good copy", b, err)
	}
}
