package config

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestPolicyURLPolledWithETag(t *testing.T) {
	var mu sync.Mutex
	body, etag := `{"settings": {"stun-port": 1111}}`, `"v1"`
	var full, notModified atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if r.Header.Get("If-None-Match") == etag {
			notModified.Add(1)
			w.WriteHeader(http.StatusNotModified)
			return
		}
		full.Add(1)
		w.Header().Set("ETag", etag)
		w.Write([]byte(body))
	}))
	defer srv.Close()

	var changes atomic.Int32
	w, first, err := NewWatcher(testSpec(), Sources{Policies: []string{srv.URL + "/policy.json"}}, WatchOptions{
		Debounce: 10 * time.Millisecond, PollInterval: 50 * time.Millisecond,
		OnChange:   func(Change) { changes.Add(1) },
		HTTPClient: srv.Client(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if e := entry(t, first, "stun-port"); e.Value != "1111" || e.Source != SourcePolicy {
		t.Fatalf("from URL: %+v", e)
	}
	go w.Run(t.Context())
	waitCond(t, "revalidation", func() bool { return notModified.Load() >= 2 })
	if full.Load() != 1 {
		t.Fatalf("%d full fetches while unchanged, want 1", full.Load())
	}

	mu.Lock()
	body, etag = `{"settings": {"stun-port": 2222}}`, `"v2"`
	mu.Unlock()
	waitCond(t, "new policy applied", func() bool { return entry(t, w.Current(), "stun-port").Value == "2222" })

	// Unreachable: the last copy stays in force.
	srv.Close()
	time.Sleep(200 * time.Millisecond)
	if v := entry(t, w.Current(), "stun-port").Value; v != "2222" {
		t.Fatalf("after the URL went away: %s", v)
	}
}
