package node

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/relayctl/relayctl/config/configtest"
	"github.com/relayctl/relayctl/internal/syncbuf"
	"github.com/relayctl/relayctl/relay/client"
	"github.com/relayctl/relayctl/relay/key"
)

// running is a node started from the library, as a Go program would.
type running struct {
	*Node
	logs *syncbuf.Buffer
	done chan error
}

// startNode resolves a node from its command-line args (and config file,
// when set), runs it until the test ends and waits until it serves.
func startNode(t *testing.T, file string, args ...string) *running {
	t.Helper()
	src := sourcesFor(t, file, args...)
	cfg, res, err := Resolve(src)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncbuf.Buffer{}
	n, err := New(cfg, Options{Resolved: res, Sources: &src, Stderr: logs, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{Node: n, logs: logs, done: make(chan error, 1)}
	go func() { r.done <- n.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-r.done; err != nil {
			t.Errorf("node stopped with %v", err)
		}
	})
	select {
	case <-n.Ready():
	case err := <-r.done:
		t.Fatalf("node ended before serving: %v\n%s", err, logs)
	case <-time.After(20 * time.Second):
		t.Fatalf("node not serving after 20s:\n%s", logs)
	}
	return r
}

// waitUntil polls cond, which asks a running system, until it holds.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond) // polling a condition, not waiting out a guess
	}
}

// receiver collects the packets a client receives.
func receiver(c *client.Client) <-chan []byte {
	out := make(chan []byte, 16)
	go func() {
		for {
			m, err := c.Recv()
			if err != nil {
				return
			}
			if p, ok := m.(*client.ReceivedPacket); ok {
				out <- p.Data
			}
		}
	}()
	return out
}

// TestNodeFromTheLibrary runs two nodes of a region without the binary
// or the command line: a TLS node (self-signed certificate, client
// pinning it) meshed to a plain-HTTP one, a packet relayed across the
// mesh, and a live change of the TLS node's config file: the admission
// webhook it adds applies to the next client, the restart-only setting it
// changes is reported pending, and the running-status file goes at stop.
func TestNodeFromTheLibrary(t *testing.T) {
	dir := configtest.Isolate(t)
	meshFile := filepath.Join(dir, "mesh.key")
	if err := os.WriteFile(meshFile, []byte(key.NewMesh().Hex()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"a", "b", "a/certs"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	b := startNode(t, "", "--certmode", "none", "--addr", "127.0.0.1:0", "--stun=false",
		"--key-file", filepath.Join(dir, "b", "key.json"), "--mesh-psk-file", meshFile)

	cfgFile := filepath.Join(dir, "a", "relayctl.yaml")
	if err := os.WriteFile(cfgFile, []byte("log-level: info\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	keyA := filepath.Join(dir, "a", "key.json")
	a := startNode(t, cfgFile, "--certmode", "manual", "--hostname", "127.0.0.1", "--certdir", filepath.Join(dir, "a", "certs"),
		"--addr", "127.0.0.1:0", "--http-port", "-1", "--stun=false", "--key-file", keyA,
		"--mesh-psk-file", meshFile, "--mesh-with", "http://"+b.DERPAddr().String())
	if !strings.Contains(a.logs.String(), "self-signed certificate for 127.0.0.1") {
		t.Errorf("no DERP map notice for the self-signed certificate:\n%s", a.logs)
	}
	certPEM, err := os.ReadFile(filepath.Join(dir, "a", "certs", "127.0.0.1.crt"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(certPEM)
	urlA := "https://" + a.DERPAddr().String()
	dialA := func(priv key.NodePrivate) (*client.Client, error) {
		return client.Dial(t.Context(), urlA, priv, client.Options{TLSConfig: &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"}})
	}

	onA, err := dialA(key.NewNode())
	if err != nil {
		t.Fatalf("TLS client to the library node: %v", err)
	}
	defer onA.Close()
	privB := key.NewNode()
	onB, err := client.Dial(t.Context(), "http://"+b.DERPAddr().String(), privB, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer onB.Close()
	got := receiver(onB)
	// A learns of B's client through the mesh: send until it is there.
	waitUntil(t, "a packet relayed from node A over the mesh to node B", func() bool {
		if err := onA.Send(privB.Public(), []byte("across the mesh")); err != nil {
			t.Fatal(err)
		}
		select {
		case p := <-got:
			return string(p) == "across the mesh"
		case <-time.After(100 * time.Millisecond):
			return false
		}
	})

	var asked atomic.Int32
	deny := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		w.Write([]byte(`{"Allow": false}`))
	}))
	defer deny.Close()
	if err := os.WriteFile(cfgFile, []byte(fmt.Sprintf("log-level: info\nverify-client-url: %s\nhome: blank\n", deny.URL)), 0o600); err != nil {
		t.Fatal(err)
	}
	a.Reload()
	waitUntil(t, "the webhook added by the live change rejecting a new client", func() bool {
		c, err := dialA(key.NewNode())
		if err != nil {
			return asked.Load() > 0
		}
		c.Close()
		return false
	})
	var st *RunningStatus
	waitUntil(t, "home reported pending a restart", func() bool {
		var ok bool
		st, ok = ReadRunningStatus(keyA)
		return ok && slices.Contains(st.Pending, "home")
	})
	if slices.Contains(st.Pending, nameVerifyClientURL) {
		t.Errorf("a live setting is listed as pending a restart: %v", st.Pending)
	}
}

// TestNodeStopsAndCleansUp: Run returns nil when its context ends, after
// draining, and removes the running-status file.
func TestNodeStopsAndCleansUp(t *testing.T) {
	dir := configtest.Isolate(t)
	keyFile := filepath.Join(dir, "key.json")
	src := sourcesFor(t, "", "--certmode", "none", "--addr", "127.0.0.1:0", "--stun-port", "0", "--key-file", keyFile, "--drain-timeout", "0")
	cfg, res, err := Resolve(src)
	if err != nil {
		t.Fatal(err)
	}
	n, err := New(cfg, Options{Resolved: res, Sources: &src, Stderr: &syncbuf.Buffer{}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	<-n.Ready()
	if n.STUNAddr() == nil {
		t.Error("no STUN address with --stun-port 0")
	}
	if _, ok := ReadRunningStatus(keyFile); !ok {
		t.Error("no running-status file while serving")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if _, err := os.Stat(statusFileFor(keyFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("running-status file left behind: %v", err)
	}
}

// TestLiveChangeToABadValueIsRejected: a live setting changed to a value
// its declaration refuses is rejected like a file that does not parse:
// counted, logged, and the last good settings stay in force. (The value
// used to be applied: only the start checked values.)
func TestLiveChangeToABadValueIsRejected(t *testing.T) {
	dir := configtest.Isolate(t)
	cfgFile := filepath.Join(dir, "relayctl.yaml")
	if err := os.WriteFile(cfgFile, []byte("per-client-rate-limit: 100000\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	n := startNode(t, cfgFile, "--certmode", "none", "--addr", "127.0.0.1:0", "--stun=false", "--key-file", filepath.Join(dir, "key.json"))
	if err := os.WriteFile(cfgFile, []byte("per-client-rate-limit: 100000\nper-client-rate-burst: 10\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	n.Reload()
	metric := func(want string) bool {
		var b strings.Builder
		n.reg.WritePrometheus(&b)
		return strings.Contains(b.String(), want)
	}
	waitUntil(t, "the change rejected", func() bool { return metric(`relayctl_config_reloads{result="rejected"} 1`) })
	if !metric(`relayctl_config_reloads{result="ok"} 0`) {
		t.Error("the bad change was also applied")
	}
	if !strings.Contains(n.logs.String(), "per-client-rate-burst: 10: want at least 65568") {
		t.Errorf("the log does not name the bad value:\n%s", n.logs)
	}
}
