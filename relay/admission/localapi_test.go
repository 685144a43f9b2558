package admission

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/relayctl/relayctl/relay/key"
)

// localAPIServer answers the LocalAPI requests relayctl makes, over a unix
// socket, the way tailscaled v1.102.5 does (ipn/localapi serveWhoIs and
// serveStatus): Host must be local-tailscaled.sock, addr=nodekey:… looks up
// a known key.
type localAPIServer struct {
	srv    *httptest.Server
	socket string

	mu     sync.Mutex
	known  map[key.NodePublic]bool
	self   key.NodePublic
	state  string
	tooOld bool
	status int // when non-zero, every request gets this status
	whois  int // whois requests seen
}

func newLocalAPIServer(t *testing.T) *localAPIServer {
	t.Helper()
	dir, err := os.MkdirTemp("", "adm") // short: unix socket paths are limited to ~104 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	s := &localAPIServer{socket: filepath.Join(dir, "ts.sock"), known: map[key.NodePublic]bool{}, state: "Running"}
	s.self = key.NewNode().Public()
	s.known[s.self] = true
	ln, err := net.Listen("unix", s.socket)
	if err != nil {
		t.Fatal(err)
	}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	s.srv.Listener.Close()
	s.srv.Listener = ln
	s.srv.Start()
	t.Cleanup(s.srv.Close)
	return s
}

func (s *localAPIServer) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.Host != "local-tailscaled.sock" {
		http.Error(w, "invalid localapi request", http.StatusForbidden)
		return
	}
	if s.status != 0 {
		http.Error(w, "forced", s.status)
		return
	}
	switch r.URL.Path {
	case "/localapi/v0/status":
		if r.URL.Query().Get("peers") != "false" {
			http.Error(w, "want peers=false", http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, `{"Version":"1.102.5-test","BackendState":%q,"Self":{"ID":"n1","PublicKey":%q,"HostName":"relay"},"Peer":null}`, s.state, s.self)
	case "/localapi/v0/whois":
		s.whois++
		addr := r.FormValue("addr")
		if s.tooOld {
			http.Error(w, "invalid 'addr' parameter", http.StatusBadRequest)
			return
		}
		var k key.NodePublic
		if err := k.UnmarshalText([]byte(addr)); err != nil {
			http.Error(w, "invalid nodekey in 'addr' parameter", http.StatusBadRequest)
			return
		}
		if !s.known[k] {
			http.Error(w, "no match for IP:port", http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"Node":        map[string]any{"ID": 7, "StableID": "n7", "Name": "peer.tailnet.ts.net.", "Key": k.String(), "Addresses": []string{"100.64.0.7/32"}},
			"UserProfile": map[string]any{"ID": 1, "LoginName": "user@example.com"},
			"CapMap":      map[string]any{},
		})
	default:
		http.NotFound(w, r)
	}
}

func (s *localAPIServer) set(f func(*localAPIServer)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

func TestLocalAPIWhoIsNodeKey(t *testing.T) {
	s := newLocalAPIServer(t)
	peer := key.NewNode().Public()
	s.set(func(s *localAPIServer) { s.known[peer] = true })
	api := NewLocalAPI(s.socket)
	defer api.CloseIdleConnections()

	w, err := api.WhoIsNodeKey(t.Context(), peer)
	if err != nil {
		t.Fatal(err)
	}
	if w.Node.Key != peer || w.Node.Name != "peer.tailnet.ts.net." || w.UserProfile.LoginName != "user@example.com" {
		t.Fatalf("whois %+v", w)
	}
	if _, err := api.WhoIsNodeKey(t.Context(), key.NewNode().Public()); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown key: %v, want ErrNotFound", err)
	}
	s.set(func(s *localAPIServer) { s.tooOld = true })
	if _, err := api.WhoIsNodeKey(t.Context(), peer); !errors.Is(err, ErrTooOld) {
		t.Fatalf("old tailscaled: %v, want ErrTooOld", err)
	}
	s.set(func(s *localAPIServer) { s.tooOld, s.status = false, http.StatusForbidden })
	var le *LocalAPIError
	if _, err := api.WhoIsNodeKey(t.Context(), peer); !errors.As(err, &le) || le.Status != 403 {
		t.Fatalf("forbidden: %v, want a 403 LocalAPIError", err)
	}
}

func TestLocalAPIUnreachable(t *testing.T) {
	dir, err := os.MkdirTemp("", "adm")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	missing := filepath.Join(dir, "missing.sock")
	stale := filepath.Join(dir, "stale.sock")
	ln, err := net.Listen("unix", stale)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close() // the file stays, nobody listens: tailscaled crashed

	tests := []struct {
		name     string
		socket   string
		wantErr  error
		wantHint string
	}{
		{"no_socket", missing, errNoSocket, "is tailscaled running?"},
		{"stale_socket", stale, errRefused, "start tailscaled"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewLocalAPI(tc.socket).WhoIsNodeKey(t.Context(), key.NewNode().Public())
			var ue *UnreachableError
			if !errors.As(err, &ue) || !errors.Is(err, tc.wantErr) {
				t.Fatalf("got %v, want an UnreachableError wrapping %v", err, tc.wantErr)
			}
			if !strings.Contains(ue.Hint(), tc.wantHint) || !strings.Contains(ue.Hint(), "--socket") {
				t.Fatalf("hint %q, want it to mention %q and --socket", ue.Hint(), tc.wantHint)
			}
		})
	}
}

func TestTailscaledCheck(t *testing.T) {
	s := newLocalAPIServer(t)
	peer := key.NewNode().Public()
	s.set(func(s *localAPIServer) { s.known[peer] = true })
	var logs bytes.Buffer
	check := NewTailscaled(NewLocalAPI(s.socket), slog.New(slog.NewTextHandler(&logs, nil)))

	if d := check.Check(t.Context(), Request{Key: peer}); d.Result != Allow {
		t.Fatalf("known peer: %+v", d)
	}
	if d := check.Check(t.Context(), Request{Key: s.self}); d.Result != Allow {
		t.Fatalf("tailscaled's own key: %+v", d)
	}
	stranger := key.NewNode().Public()
	d := check.Check(t.Context(), Request{Key: stranger})
	if d.Result != Deny || d.Reason.Error() != "peer "+stranger.String()+" not authorized (not found in local tailscaled)" {
		t.Fatalf("stranger: %+v", d)
	}
	s.set(func(s *localAPIServer) { s.tooOld = true })
	if d := check.Check(t.Context(), Request{Key: peer}); d.Result != Error || !strings.Contains(d.Reason.Error(), "tailscaled version is too old") {
		t.Fatalf("old tailscaled: %+v", d)
	}

	// tailscaled goes away: every client is rejected as unreachable, and
	// the change is logged once, not once per client.
	s.srv.Close()
	for range 3 {
		d := check.Check(t.Context(), Request{Key: peer})
		if d.Result != Unreachable || !strings.Contains(d.Reason.Error(), "tailscaled unreachable at "+s.socket) {
			t.Fatalf("stopped tailscaled: %+v", d)
		}
	}
	if n := strings.Count(logs.String(), "tailscaled stopped answering"); n != 1 {
		t.Fatalf("%d 'stopped answering' lines, want 1:\n%s", n, logs.String())
	}
}

func TestTailscaledRecoveryLogged(t *testing.T) {
	dir, err := os.MkdirTemp("", "adm")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "ts.sock")
	var logs bytes.Buffer
	check := NewTailscaled(NewLocalAPI(sock), slog.New(slog.NewTextHandler(&logs, nil)))
	if d := check.Check(t.Context(), Request{Key: key.NewNode().Public()}); d.Result != Unreachable {
		t.Fatalf("before start: %+v", d)
	}
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.NotFoundHandler()}
	go srv.Serve(ln)
	defer srv.Close()
	if d := check.Check(t.Context(), Request{Key: key.NewNode().Public()}); d.Result != Deny {
		t.Fatalf("after start: %+v", d)
	}
	mustContain(t, logs.String(), "tailscaled stopped answering", "tailscaled is answering again")
}

func TestTailscaledProbe(t *testing.T) {
	tests := []struct {
		name        string
		setup       func(*localAPIServer)
		wantWarning string
		wantErr     string
	}{
		{"running", func(*localAPIServer) {}, "", ""},
		{"needs_login", func(s *localAPIServer) { s.state = "NeedsLogin" }, `state "NeedsLogin", not Running`, ""},
		{"too_old", func(s *localAPIServer) { s.tooOld = true }, "", "tailscaled version is too old"},
		{"forbidden", func(s *localAPIServer) { s.status = http.StatusForbidden }, "", "run relayctl as root"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newLocalAPIServer(t)
			s.set(tc.setup)
			st, warning, err := NewTailscaled(NewLocalAPI(s.socket), nil).Probe(t.Context())
			checkErr(t, "warning", warning, tc.wantWarning)
			checkErr(t, "error", err, tc.wantErr)
			if err == nil && (st == nil || st.Self.PublicKey != s.self) {
				t.Fatalf("status %+v, want self %s", st, s.self)
			}
		})
	}
	t.Run("no_socket", func(t *testing.T) {
		_, _, err := NewTailscaled(NewLocalAPI(filepath.Join(t.TempDir(), "none.sock")), nil).Probe(t.Context())
		checkErr(t, "error", err, "is tailscaled running?")
	})
}

func checkErr(t *testing.T, what string, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Fatalf("%s %v, want none", what, err)
	case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
		t.Fatalf("%s %v, want one containing %q", what, err, want)
	}
}
