package acmecert

import (
	"context"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/acme/autocert"

	"github.com/relayctl/relayctl/internal/metrics"
	"github.com/relayctl/relayctl/internal/syncbuf"
)

// unwritableDir is a cache directory path that cannot be created: its
// parent is a regular file. (Tests run as root, which mode bits do not
// stop.)
func unwritableDir(t *testing.T) string {
	t.Helper()
	parent := filepath.Join(t.TempDir(), "not-a-dir")
	if err := os.WriteFile(parent, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(parent, "certs")
}

func storeErrors(t *testing.T, reg *metrics.Registry) string {
	t.Helper()
	var b strings.Builder
	reg.WritePrometheus(&b)
	for line := range strings.Lines(b.String()) {
		if strings.HasPrefix(line, "relayctl_state_write_errors{") {
			return strings.TrimSpace(line)
		}
	}
	return ""
}

func TestKeepingCacheReportsAndKeepsGoing(t *testing.T) {
	dir := unwritableDir(t)
	logs := &syncbuf.Buffer{}
	reg := metrics.NewRegistry()
	c := keepingCache{DirCache: autocert.DirCache(dir), failures: newStoreFailures(slog.New(slog.NewTextHandler(logs, nil)), reg)}

	if err := c.Put(t.Context(), "relay.example.com", []byte("pem")); err != nil {
		t.Fatalf("Put: %v, want nil so that autocert keeps the certificate in memory", err)
	}
	if got, want := storeErrors(t, reg), `relayctl_state_write_errors{what="acme"} 1`; got != want {
		t.Errorf("metric %q, want %q", got, want)
	}
	if out := logs.String(); !strings.Contains(out, "level=ERROR") || !strings.Contains(out, filepath.Join(dir, "relay.example.com")) {
		t.Errorf("no error line naming the file:\n%s", out)
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := c.Put(ctx, "relay.example.com", []byte("pem")); err == nil {
		t.Error("Put with a cancelled context reported success")
	}
}

// TestIPManagerKeepsWhatTheDiskRefuses: an account key (and so an order)
// does not depend on the cache directory taking it.
func TestIPManagerKeepsWhatTheDiskRefuses(t *testing.T) {
	logs := &syncbuf.Buffer{}
	reg := metrics.NewRegistry()
	m, err := NewIPManager(netip.MustParseAddr("192.0.2.1"), Options{CacheDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(logs, nil))}, reg)
	if err != nil {
		t.Fatal(err)
	}
	// The directory goes away under the running relay.
	m.opts.CacheDir = unwritableDir(t)
	k, err := m.accountKey()
	if err != nil || k == nil {
		t.Fatalf("accountKey: %v, want a key kept in memory", err)
	}
	if got, want := storeErrors(t, reg), `relayctl_state_write_errors{what="acme"} 1`; got != want {
		t.Errorf("metric %q, want %q", got, want)
	}
	if !strings.Contains(logs.String(), "cannot store ACME state") {
		t.Errorf("no log line:\n%s", logs)
	}
}
