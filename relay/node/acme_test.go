package node

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/relayctl/relayctl/config/configtest"
	"github.com/relayctl/relayctl/internal/syncbuf"
)

// fakeACMEDirectory is a CA whose directory answers only once release is
// closed, and that issues nothing (every other path is 404).
type fakeACMEDirectory struct {
	*httptest.Server
	fetches, inFlight, abandoned atomic.Int32
	release                      chan struct{}
}

func newFakeACMEDirectory(t *testing.T, eabRequired bool) *fakeACMEDirectory {
	d := &fakeACMEDirectory{release: make(chan struct{})}
	d.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/dir" {
			http.NotFound(w, r)
			return
		}
		d.fetches.Add(1)
		d.inFlight.Add(1)
		defer d.inFlight.Add(-1)
		select {
		case <-d.release:
		case <-r.Context().Done():
			d.abandoned.Add(1)
			return
		}
		fmt.Fprintf(w, `{"newNonce":"%[1]s/nonce","newAccount":"%[1]s/acct","newOrder":"%[1]s/order","meta":{"externalAccountRequired":%[2]v}}`, "http://"+r.Host, eabRequired)
	}))
	t.Cleanup(d.Close)
	return d
}

// acmeNode starts a --certmode letsencrypt node against d.
func acmeNode(t *testing.T, d *fakeACMEDirectory) (*Node, *syncbuf.Buffer, <-chan error, context.CancelFunc) {
	dir := configtest.Isolate(t)
	certs := filepath.Join(dir, "certs")
	if err := os.Mkdir(certs, 0o700); err != nil {
		t.Fatal(err)
	}
	src := sourcesFor(t, "", "--hostname", "relay.test", "--acme-directory-url", d.URL+"/dir", "--certdir", certs,
		"--addr", "127.0.0.1:0", "--http-port", "-1", "--stun=false", "--key-file", filepath.Join(dir, "key.json"), "--drain-timeout", "0")
	cfg, res, err := Resolve(src)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncbuf.Buffer{}
	n, err := New(cfg, Options{Resolved: res, Stderr: logs})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	return n, logs, done, cancel
}

// TestACMEDirectoryReadOnceWithoutDelayingStart: the External Account
// Binding check and the certificate manager read the CA's directory
// through one client, so it is fetched once; and the check runs beside
// the start: the node serves while the directory has not answered yet.
// (serve fetched it twice, and waited up to 5 s for it before serving.)
func TestACMEDirectoryReadOnceWithoutDelayingStart(t *testing.T) {
	d := newFakeACMEDirectory(t, false)
	n, logs, done, cancel := acmeNode(t, d)
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	select {
	case <-n.Ready():
	case err := <-done:
		t.Fatalf("node ended: %v\n%s", err, logs)
	}
	// Serving, and the directory is still being asked for.
	waitUntil(t, "the directory request", func() bool { return d.inFlight.Load() == 1 })
	close(d.release)
	waitUntil(t, "the failed certificate attempt logged", func() bool { return strings.Contains(logs.String(), "certificate unavailable") })
	if n, a := d.fetches.Load(), d.abandoned.Load(); n != 1 || a != 0 {
		t.Errorf("the ACME directory was fetched %d times (%d given up waiting), want once", n, a)
	}
}

// TestACMEBindingRequiredStopsTheNode: a CA that requires External
// Account Binding, with none set, ends Run with a *ConfigError saying
// what to set.
func TestACMEBindingRequiredStopsTheNode(t *testing.T) {
	d := newFakeACMEDirectory(t, true)
	close(d.release)
	_, logs, done, cancel := acmeNode(t, d)
	defer cancel()
	select {
	case err := <-done:
		var ce *ConfigError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), "requires External Account Binding: set --acme-eab-kid and --acme-eab-key") {
			t.Fatalf("Run: %v, want a *ConfigError naming the EAB settings", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("node still running:\n%s", logs)
	}
}
