package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/relayctl/relayctl/internal/metrics"
)

// fakeResolver answers from a map; a name missing from it fails. With
// blockUntilDone it instead waits for the lookup's context to end.
type fakeResolver struct {
	mu             sync.Mutex
	answers        map[string][]net.IP
	blockUntilDone bool
	lookups        int
}

func (f *fakeResolver) LookupIP(ctx context.Context, network, host string) ([]net.IP, error) {
	f.mu.Lock()
	f.lookups++
	block := f.blockUntilDone
	ips, ok := f.answers[host]
	f.mu.Unlock()
	if network != "ip" {
		return nil, fmt.Errorf("fake resolver: network %q, want ip", network)
	}
	if block {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	return ips, nil
}

func (f *fakeResolver) set(answers map[string][]net.IP) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answers = answers
}

func (f *fakeResolver) lookupCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lookups
}

func ips(ss ...string) []net.IP {
	out := make([]net.IP, len(ss))
	for i, s := range ss {
		out[i] = net.ParseIP(s)
	}
	return out
}

// newTestHandler builds a Handler that the test closes.
func newTestHandler(t *testing.T, opts Options) *Handler {
	t.Helper()
	if opts.Metrics == nil {
		opts.Metrics = metrics.NewRegistry()
	}
	if opts.Resolver == nil {
		opts.Resolver = &fakeResolver{}
	}
	h, err := NewHandler(opts)
	if err != nil {
		t.Fatalf("NewHandler: %v", err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

const (
	loopbackRemote = "127.0.0.1:40000"
	remoteRemote   = "192.0.2.10:40000" // TEST-NET-1, never loopback
)

// serve runs one request through h as if it came from remote.
func serve(h http.Handler, method, target, remote string, header http.Header) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, nil)
	r.RemoteAddr = remote
	// A loopback caller reaches the relay as localhost, as a browser or
	// curl on the relay's host would.
	if strings.HasPrefix(remote, "127.") || strings.HasPrefix(remote, "[::1]") {
		r.Host = "localhost:3340"
	}
	if h := header.Get("Host"); h != "" {
		r.Host = h
	}
	for k, vs := range header {
		for _, v := range vs {
			r.Header.Add(k, v)
		}
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

var browserHeaders = map[string]string{
	"Strict-Transport-Security": "max-age=63072000; includeSubDomains",
	"Content-Security-Policy":   "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'self'; block-all-mixed-content; object-src 'none'",
	"X-Frame-Options":           "DENY",
	"X-Content-Type-Options":    "nosniff",
}

func checkBrowserHeaders(t *testing.T, h http.Header, want bool) {
	t.Helper()
	for k, v := range browserHeaders {
		got := h.Get(k)
		if want && got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
		// http.Error sends nosniff on its own, so only the other three tell
		// whether browser headers were added.
		if !want && got != "" && k != "X-Content-Type-Options" {
			t.Errorf("%s = %q, want none", k, got)
		}
	}
}

func scrape(t *testing.T, reg *metrics.Registry) string {
	t.Helper()
	var b strings.Builder
	if err := reg.WritePrometheus(&b); err != nil {
		t.Fatalf("WritePrometheus: %v", err)
	}
	return b.String()
}

func readAll(t *testing.T, r io.Reader) string {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil && !errors.Is(err, io.EOF) {
		t.Fatalf("reading body: %v", err)
	}
	return string(b)
}

// newLoopbackServer serves h on 127.0.0.1:0 until the test ends.
func newLoopbackServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}
