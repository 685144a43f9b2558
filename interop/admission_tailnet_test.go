package interop

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/relayctl/relayctl/internal/serverproc"
	"tailscale.com/client/local"
	"tailscale.com/ipn/ipnlocal"
	"tailscale.com/ipn/store"
	"tailscale.com/tailcfg"
	"tailscale.com/tstest/integration"
	"tailscale.com/tstest/integration/testcontrol"
	"tailscale.com/types/key"
	"tailscale.com/types/logger"
)

// tailnetUpTimeout bounds a tailscaled's start and `tailscale up`.
const tailnetUpTimeout = 60 * time.Second

// tailnet is Tailscale's in-module test control server, run in the test
// process, with a DERP+STUN server for its map, as tailscale's own
// tstest/integration tests set it up.
type tailnet struct {
	control    *testcontrol.Server
	tailscaled string
	tailscale  string
	trap       *httptest.Server // stands in for the internet: any request is a test failure
	env        []string         // added to every tailscaled's environment
}

func newTailnet(t *testing.T) *tailnet {
	t.Helper()
	return newTailnetWith(t, integration.RunDERPAndSTUN(t, logger.Discard, "127.0.0.1"))
}

// newTailnetWith is a tailnet whose control server hands out derpMap;
// env is added to every tailscaled's environment.
func newTailnetWith(t *testing.T, derpMap *tailcfg.DERPMap, env ...string) *tailnet {
	t.Helper()
	tn := &tailnet{
		tailscaled: toolBinary(t, "tailscale.com/cmd/tailscaled"),
		tailscale:  toolBinary(t, "tailscale.com/cmd/tailscale"),
		env:        env,
	}
	tn.control = &testcontrol.Server{
		Logf:    logger.Discard,
		DERPMap: derpMap,
	}
	tn.control.HTTPTestServer = httptest.NewUnstartedServer(tn.control)
	tn.control.HTTPTestServer.Start()
	t.Cleanup(tn.control.HTTPTestServer.Close)
	tn.trap = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("tailscaled tried to reach the internet: %s %s", r.Method, r.URL)
		http.Error(w, "no internet in tests", http.StatusForbidden)
	}))
	t.Cleanup(tn.trap.Close)
	return tn
}

// tailscaledNode is one real tailscaled (userspace networking) with its own
// state directory and socket.
type tailscaledNode struct {
	name   string
	dir    string
	socket string
	cmd    *exec.Cmd
	proc   *serverproc.Process
	logs   *logBuffer
}

func (tn *tailnet) startNode(t *testing.T, name string) *tailscaledNode {
	t.Helper()
	dir, err := os.MkdirTemp("", "ts-"+name+"-") // short: unix socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	n := &tailscaledNode{name: name, dir: dir, socket: filepath.Join(dir, "tailscaled.sock"), logs: &logBuffer{}}
	n.cmd = exec.Command(tn.tailscaled,
		"--tun=userspace-networking",
		"--statedir="+dir,
		"--socket="+n.socket,
		"--port=0",
		"--encrypt-state=false",
		"--no-logs-no-support",
	)
	n.cmd.Env = append(os.Environ(),
		"TS_LOGS_DIR="+dir,
		"TS_NO_LOGS_NO_SUPPORT=true",
		"HTTP_PROXY="+tn.trap.URL,
		"HTTPS_PROXY="+tn.trap.URL,
		"TS_PANIC_IF_HIT_MAIN_CONTROL=1",
		"TS_DISABLE_PORTMAPPER=1",
		"TS_ASSUME_NETWORK_UP_FOR_TEST=1",
		"TS_NETCHECK_GENERATE_204_URL="+tn.control.BaseURL()+"/generate_204",
	)
	n.cmd.Env = append(n.cmd.Env, tn.env...)
	n.cmd.Stdout = n.logs
	n.cmd.Stderr = n.logs
	p, err := serverproc.Start(n.cmd)
	if err != nil {
		t.Fatalf("starting tailscaled %s: %v", name, err)
	}
	n.proc = p
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("tailscaled %s logs (tail):\n%s", name, tail(n.logs.String(), 4000))
		}
	})

	ctx, cancel := context.WithTimeout(t.Context(), tailnetUpTimeout)
	defer cancel()
	up := exec.CommandContext(ctx, tn.tailscale, "--socket="+n.socket, "up",
		"--login-server="+tn.control.BaseURL(), "--hostname="+name, "--reset")
	if out, err := up.CombinedOutput(); err != nil {
		t.Fatalf("tailscale up (%s): %v\n%s\ntailscaled logs:\n%s", name, err, out, tail(n.logs.String(), 4000))
	}
	n.awaitRunning(t, ctx)
	return n
}

func (n *tailscaledNode) client() *local.Client {
	return &local.Client{Socket: n.socket, UseSocketOnly: true}
}

func (n *tailscaledNode) awaitRunning(t *testing.T, ctx context.Context) {
	t.Helper()
	for {
		st, err := n.client().StatusWithoutPeers(ctx)
		if err == nil && st.BackendState == "Running" && st.Self != nil && len(st.Self.TailscaleIPs) > 0 {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("tailscaled %s not Running: %v %v", n.name, err, st)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// awaitPeer waits until n's netmap holds peer's node key.
func (n *tailscaledNode) awaitPeer(t *testing.T, peer key.NodePublic) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), tailnetUpTimeout)
	defer cancel()
	for {
		_, err := n.client().WhoIsNodeKey(ctx, peer)
		if err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("tailscaled %s never saw peer %s: %v", n.name, peer.ShortString(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// nodeKey reads the node's private key from its state file, the way
// tailscale's integration tests read a node's prefs from disk.
func (n *tailscaledNode) nodeKey(t *testing.T) key.NodePrivate {
	t.Helper()
	st, err := store.New(logger.Discard, filepath.Join(n.dir, "tailscaled.state"))
	if err != nil {
		t.Fatalf("%s state: %v", n.name, err)
	}
	prefs, err := ipnlocal.ReadStartupPrefsForTest(logger.Discard, st)
	if err != nil {
		t.Fatalf("%s prefs: %v", n.name, err)
	}
	priv := prefs.Persist().PrivateNodeKey()
	if priv.IsZero() {
		t.Fatalf("%s has no node key in its state", n.name)
	}
	return priv
}

// stop ends tailscaled the way systemd does (SIGTERM) and waits.
func (n *tailscaledNode) stop(t *testing.T) {
	t.Helper()
	n.proc.OS().Signal(os.Interrupt)
	select {
	case <-n.proc.Exited():
	case <-time.After(15 * time.Second):
		t.Fatalf("tailscaled %s did not stop", n.name)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// TestVerifyClientsTailscaled joins two real tailscaled nodes to the test
// control server. A relay beside the first one, with --verify-clients,
// admits the second node's key (a DERP client presenting it, as that
// node's own tailscaled would) and rejects an unknown key. Then the first
// tailscaled stops: relayctl rejects new clients with a clear log line and
// counts them as unreachable, keeps recently verified keys for the cache
// lifetime, and refuses to start against the dead socket.
func TestVerifyClientsTailscaled(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs tailscaled")
	}
	tn := newTailnet(t)
	relayNode := tn.startNode(t, "relay")
	member := tn.startNode(t, "member")
	memberKey := member.nodeKey(t)
	relayNode.awaitPeer(t, memberKey.Public())
	selfKey := relayNode.nodeKey(t)

	verifyFlags := map[serverKind][]string{
		derperServer:   {"-verify-clients", "-socket", relayNode.socket},
		relayctlServer: {"--verify-clients", "--socket", relayNode.socket},
	}
	servers := map[serverKind]*server{}
	for _, k := range selectedKinds() {
		// Started here, not in the subtest, so relayctl outlives it.
		s := startServer(t, k, verifyFlags[k]...)
		servers[k] = s
		t.Run(string(k), func(t *testing.T) {
			m := connectPeerAs(t, s, memberKey)
			self := connectPeerAs(t, s, selfKey) // tailscaled's own key is known too
			exchange(t, m, self)
			expectRejected(t, s, key.NewNode())
			if k == relayctlServer {
				if _, err := s.logs.waitForJSONLine(t.Context(), msgTimeout, "not found in local tailscaled", `"check":"tailscaled"`); err != nil {
					t.Fatal(err)
				}
				waitForMetric(t, s, `relayctl_admission_decisions{check="tailscaled",result="deny"} 1`)
			}
		})
	}

	s := servers[relayctlServer]
	if s == nil {
		return
	}
	relayNode.stop(t)
	t.Run("tailscaled_stopped", func(t *testing.T) {
		stranger := key.NewNode()
		expectRejected(t, s, stranger)
		if _, err := s.logs.waitForJSONLine(t.Context(), msgTimeout,
			"tailscaled stopped answering; every new client is rejected until it is back", relayNode.socket); err != nil {
			t.Fatal(err)
		}
		if _, err := s.logs.waitForJSONLine(t.Context(), msgTimeout,
			`"client":"`+stranger.Public().String()+`"`, `"result":"unreachable"`, "tailscaled unreachable at "+relayNode.socket); err != nil {
			t.Fatal(err)
		}
		waitForMetric(t, s, `relayctl_admission_decisions{check="tailscaled",result="unreachable"} 1`)
		// The member was verified moments ago: its answer is still cached.
		connectPeerAs(t, s, memberKey)
	})
	t.Run("refuses_to_start", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, binaryFor(t, relayctlServer), "serve", "--certmode", "none",
			"--addr", "127.0.0.1:0", "--stun=false", "--http-port", "-1",
			"--key-file", filepath.Join(t.TempDir(), "k.json"),
			"--verify-clients", "--socket", relayNode.socket)
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 {
			t.Fatalf("serve with a dead tailscaled: %v, want exit 2\n%s", err, out)
		}
		for _, want := range []string{"--verify-clients", relayNode.socket, "is tailscaled running", "--verify-clients-allow-unreachable"} {
			if !strings.Contains(string(out), want) {
				t.Errorf("message lacks %q:\n%s", want, out)
			}
		}
	})
}
