package interop

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"tailscale.com/derp/derphttp"
	"tailscale.com/net/netmon"
	"tailscale.com/types/key"
	"tailscale.com/types/logger"
)

// startServerWithArgs is startServer with extra command-line arguments
// (admission flags); extra[k] are the arguments for server kind k.
func startServerWithArgs(t *testing.T, k serverKind, extra ...string) *server {
	t.Helper()
	bin := binaryFor(t, k)
	var lastErr error
	for range startTries {
		s, err := tryStartServerWithArgs(t, k, bin, extra)
		if err == nil {
			return s
		}
		lastErr = err
	}
	t.Fatalf("starting %s: %v", k, lastErr)
	return nil
}

func tryStartServerWithArgs(t *testing.T, k serverKind, bin string, extra []string) (*server, error) {
	tcpPort, udpPort := freePorts(t)
	dir := t.TempDir()
	s := &server{
		kind:     k,
		httpAddr: net.JoinHostPort("127.0.0.1", strconv.Itoa(tcpPort)),
		stunAddr: net.JoinHostPort("127.0.0.1", strconv.Itoa(udpPort)),
		logs:     &logBuffer{},
		exited:   make(chan struct{}),
	}
	var args []string
	switch k {
	case derperServer:
		args = []string{"-a", s.httpAddr, "-stun-port", strconv.Itoa(udpPort),
			"-http-port", "-1", "-c", filepath.Join(dir, "derper.json")}
	case relayctlServer:
		args = []string{"serve", "--certmode", "none", "--addr", s.httpAddr,
			"--stun-port", strconv.Itoa(udpPort), "--http-port", "-1",
			"--key-file", filepath.Join(dir, "relay-key.json"), "--log-format", "json"}
	}
	args = append(args, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout = s.logs
	cmd.Stderr = s.logs
	setDeathSignal(cmd)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s.proc = cmd.Process
	go func() {
		s.exitErr = cmd.Wait()
		close(s.exited)
	}()
	stop := func() {
		_ = cmd.Process.Kill()
		<-s.exited
	}
	if err := s.waitReady(t.Context()); err != nil {
		stop()
		return nil, fmt.Errorf("%s %s: %w (exit: %v)\nlogs:\n%s", bin, strings.Join(args, " "), err, s.exitErr, s.logs)
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("%s logs:\n%s", k, s.logs)
		}
	})
	return s, nil
}

// expectRejected connects priv with Tailscale's client and requires the
// server to end the connection after ServerKey, before any ServerInfo.
func expectRejected(t *testing.T, s *server, priv key.NodePrivate) {
	t.Helper()
	c, err := derphttp.NewClient(priv, s.url("/derp"), logger.Discard, netmon.NewStatic())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(t.Context(), msgTimeout)
	defer cancel()
	// Connect returns once ServerKey is read and ClientInfo sent; ServerInfo
	// (which means "admitted") would be the first frame Recv sees.
	if err := c.Connect(ctx); err != nil {
		t.Fatalf("%s: connect %s: %v (want the handshake to reach ClientInfo)", s.kind, priv.Public().ShortString(), err)
	}
	if got := c.ServerPublicKey(); got.IsZero() {
		t.Fatalf("%s: no ServerKey before the rejection", s.kind)
	}
	in := startInbox(c)
	m, err := in.next(msgTimeout)
	if err == nil {
		t.Fatalf("%s: rejected key %s got %T, want the connection closed", s.kind, priv.Public().ShortString(), m)
	}
	if !errors.Is(in.err, io.EOF) && !isClosedErr(in.err) {
		t.Fatalf("%s: rejected key %s: %v, want EOF", s.kind, priv.Public().ShortString(), in.err)
	}
}

// fetchMetrics reads relayctl's Prometheus text from /debug/metrics.
func fetchMetrics(t *testing.T, s *server) string {
	t.Helper()
	hc := &http.Client{Timeout: 2 * time.Second}
	defer hc.CloseIdleConnections()
	resp, err := hc.Get(s.url("/debug/metrics"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /debug/metrics: %s %v", resp.Status, err)
	}
	return string(b)
}

// waitForMetric polls relayctl's metrics until line appears.
func waitForMetric(t *testing.T, s *server, line string) {
	t.Helper()
	deadline := time.Now().Add(msgTimeout)
	for {
		got := fetchMetrics(t, s)
		if strings.Contains(got, line) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("metric %q not seen within %v:\n%s", line, msgTimeout, got)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
