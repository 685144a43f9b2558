package node

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/relayctl/relayctl/internal/metrics"
	"github.com/relayctl/relayctl/relay/key"
	"github.com/relayctl/relayctl/relay/server"
)

// fakeTailscaled serves the two LocalAPI calls serve makes on a unix socket.
func fakeTailscaled(t *testing.T, self key.NodePublic, known ...key.NodePublic) (socket string, stop func()) {
	t.Helper()
	dir, err := os.MkdirTemp("", "adm")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	socket = filepath.Join(dir, "ts.sock")
	ln, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	ok := map[string]bool{self.String(): true}
	for _, k := range known {
		ok[k.String()] = true
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/localapi/v0/status":
			fmt.Fprintf(w, `{"Version":"test","BackendState":"Running","Self":{"PublicKey":%q}}`, self)
		case "/localapi/v0/whois":
			if !ok[r.FormValue("addr")] {
				http.Error(w, "no match for IP:port", http.StatusNotFound)
				return
			}
			fmt.Fprintf(w, `{"Node":{"Key":%q}}`, r.FormValue("addr"))
		default:
			http.NotFound(w, r)
		}
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return socket, func() { srv.Close() }
}

func TestAdmitterVerifyClients(t *testing.T) {
	self, peer, stranger := key.NewNode().Public(), key.NewNode().Public(), key.NewNode().Public()
	socket, stop := fakeTailscaled(t, self, peer)
	var logs bytes.Buffer
	reg := metrics.NewRegistry()
	a, err := newAdmitter(t.Context(), &Config{VerifyClients: true, Socket: socket}, slog.New(slog.NewTextHandler(&logs, nil)), reg)
	if err != nil {
		t.Fatal(err)
	}
	admit := a.admit
	if err := admit(t.Context(), server.AdmitRequest{Key: peer}); err != nil {
		t.Fatalf("peer rejected: %v", err)
	}
	if err := admit(t.Context(), server.AdmitRequest{Key: stranger}); err == nil || !strings.Contains(err.Error(), "not found in local tailscaled") {
		t.Fatalf("stranger: %v", err)
	}
	stop()
	// The peer's answer is cached; a new key finds tailscaled gone.
	if err := admit(t.Context(), server.AdmitRequest{Key: peer}); err != nil {
		t.Fatalf("cached peer rejected: %v", err)
	}
	if err := admit(t.Context(), server.AdmitRequest{Key: key.NewNode().Public()}); err == nil || !strings.Contains(err.Error(), "tailscaled unreachable") {
		t.Fatalf("after stop: %v", err)
	}
	var prom bytes.Buffer
	reg.WritePrometheus(&prom)
	for _, want := range []string{
		`relayctl_admission_decisions{check="tailscaled",result="allow"} 2`,
		`relayctl_admission_decisions{check="tailscaled",result="deny"} 1`,
		`relayctl_admission_decisions{check="tailscaled",result="unreachable"} 1`,
	} {
		if !strings.Contains(prom.String(), want) {
			t.Errorf("metrics lack %s:\n%s", want, prom.String())
		}
	}
	if !strings.Contains(logs.String(), "verifying clients with the local tailscaled") {
		t.Errorf("no startup line:\n%s", logs.String())
	}
}

func TestAdmitterTailscaledDown(t *testing.T) {
	dir, err := os.MkdirTemp("", "adm") // short: unix socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	socket := filepath.Join(dir, "none.sock")
	c := &Config{VerifyClients: true, Socket: socket}
	_, err = newAdmitter(t.Context(), c, slog.New(slog.DiscardHandler), metrics.NewRegistry())
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("got %v, want a *ConfigError", err)
	}
	for _, want := range []string{socket, "is tailscaled running?", "--socket", "--verify-clients-allow-unreachable"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message %q lacks %q", err, want)
		}
	}

	c.VerifyClientsAllowUnreachable = true
	a, err := newAdmitter(t.Context(), c, slog.New(slog.DiscardHandler), metrics.NewRegistry())
	if err != nil {
		t.Fatalf("with --verify-clients-allow-unreachable: %v", err)
	}
	if err := a.admit(t.Context(), server.AdmitRequest{Key: key.NewNode().Public()}); err == nil {
		t.Fatal("client admitted while tailscaled is down")
	}
}

// TestAdmitterLiveWebhook: with no admission flags everyone is
// admitted; a webhook set later (a live config change) applies to the next
// client, and removing it admits everyone again.
func TestAdmitterLiveWebhook(t *testing.T) {
	a, err := newAdmitter(t.Context(), &Config{}, slog.New(slog.DiscardHandler), metrics.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	admit := a.admit
	req := server.AdmitRequest{Key: key.NewNode().Public()}
	if err := admit(t.Context(), req); err != nil {
		t.Fatalf("no admission flags: %v", err)
	}
	deny := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"Allow": false}`))
	}))
	defer deny.Close()
	a.setWebhook(deny.URL, true)
	if err := admit(t.Context(), req); err == nil {
		t.Fatal("admitted after a denying webhook was configured")
	}
	a.setWebhook("", true)
	if err := admit(t.Context(), req); err != nil {
		t.Fatalf("webhook removed: %v", err)
	}
}
