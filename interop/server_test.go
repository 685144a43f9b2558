package interop

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/relayctl/relayctl/internal/serverproc"
	"github.com/relayctl/relayctl/internal/syncbuf"
)

// server is one running relay process on loopback.
type server struct {
	kind     serverKind
	httpAddr string // 127.0.0.1:port of the DERP/HTTP listener
	stunAddr string // 127.0.0.1:port of the STUN socket
	logs     *logBuffer

	exited <-chan struct{} // closed when the process has been reaped
	proc   *os.Process
	// watched is the started process (nil for a server made from
	// another helper's process); exitStatus reads it.
	watched *serverproc.Process
	// stopping is set by tests that end the process themselves.
	stopping bool
}

const (
	readyTimeout = 15 * time.Second
	startTries   = 3
)

// startServer runs a fresh server of kind k with its own ports and state
// directory, waits until /derp/probe answers 200, and kills it at cleanup.
// extra are more command-line arguments (admission or limit flags).
func startServer(t *testing.T, k serverKind, extra ...string) *server {
	t.Helper()
	bin := binaryFor(t, k)
	var lastErr error
	for range startTries {
		s, err := tryStartServer(t, k, bin, extra)
		if err == nil {
			return s
		}
		lastErr = err
	}
	t.Fatalf("starting %s: %v", k, lastErr)
	return nil
}

func tryStartServer(t *testing.T, k serverKind, bin string, extra []string) (*server, error) {
	tcpPort, udpPort := freePorts(t)
	dir := t.TempDir()
	s := &server{
		kind:     k,
		httpAddr: net.JoinHostPort("127.0.0.1", strconv.Itoa(tcpPort)),
		stunAddr: net.JoinHostPort("127.0.0.1", strconv.Itoa(udpPort)),
		logs:     &logBuffer{},
	}
	var args []string
	switch k {
	case derperServer:
		// Any port but 443 makes derper serve plain HTTP.
		args = []string{"-a", s.httpAddr, "-stun-port", strconv.Itoa(udpPort),
			"-http-port", "-1", "-c", filepath.Join(dir, "derper.json")}
	case relayctlServer:
		args = []string{"serve", "--certmode", "none", "--addr", s.httpAddr,
			"--stun-port", strconv.Itoa(udpPort), "--http-port", "-1",
			"--key-file", filepath.Join(dir, "relay-key.json"), "--log-format", "json"}
	default:
		t.Fatalf("unknown server kind %q", k)
	}
	args = append(args, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout = s.logs
	cmd.Stderr = s.logs
	p, err := serverproc.Start(cmd)
	if err != nil {
		return nil, err
	}
	s.watched, s.proc, s.exited = p, p.OS(), p.Exited()
	if err := s.waitReady(t.Context()); err != nil {
		p.Kill()
		return nil, fmt.Errorf("%s %s: %w (exit: %v)\nlogs:\n%s", bin, strings.Join(args, " "), err, p.Err(), s.logs)
	}
	t.Cleanup(func() {
		if !p.Alive() && !s.stopping {
			t.Errorf("%s exited during the test: %v", k, p.Err())
		}
		p.Kill()
		if t.Failed() {
			t.Logf("%s logs:\n%s", k, s.logs)
		}
	})
	return s, nil
}

// exitStatus is the process's exit status once exited is closed.
func (s *server) exitStatus() error {
	if s.watched == nil {
		return nil
	}
	return s.watched.Err()
}

// waitReady polls GET /derp/probe until it answers 200, the process exits,
// or readyTimeout passes.
func (s *server) waitReady(ctx context.Context) error {
	return waitDERPProbe(ctx, s.exited, false, s.httpAddr, "")
}

// waitDERPProbe polls GET /derp/probe on addr until it answers 200, exited
// closes or readyTimeout passes: over TLS for hostname (trusting any
// certificate: the tests check it themselves) when useTLS, else plain HTTP.
func waitDERPProbe(ctx context.Context, exited <-chan struct{}, useTLS bool, addr, hostname string) error {
	scheme, host, tr := "http", "", &http.Transport{}
	if useTLS {
		scheme, host = "https", hostname
		if net.ParseIP(host) != nil {
			host = ""
		}
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true, ServerName: host}
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Timeout: time.Second, Transport: tr}
	return serverproc.WaitReady(ctx, exited, readyTimeout, serverproc.HTTPOK(client, scheme+"://"+addr+"/derp/probe", host))
}

func (s *server) url(path string) string { return "http://" + s.httpAddr + path }

// alive reports whether the process is still running.
func (s *server) alive() bool {
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

// freePorts returns a TCP and a UDP port on 127.0.0.1 that the kernel just
// reported free and that no other test in this process has been given. The
// server binds them a moment later; startServer retries if one was taken.
func freePorts(t *testing.T) (tcpPort, udpPort int) {
	t.Helper()
	tcpPort, err := serverproc.FreeTCPPort()
	if err != nil {
		t.Fatal(err)
	}
	udpPort, err = serverproc.FreeUDPPort()
	if err != nil {
		t.Fatal(err)
	}
	return tcpPort, udpPort
}

// logBuffer collects a process's stdout and stderr for tests to search.
type logBuffer struct{ syncbuf.Buffer }

// waitForJSONLine waits until some log line is a JSON object containing
// every one of needles, and returns it.
func (b *logBuffer) waitForJSONLine(ctx context.Context, timeout time.Duration, needles ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		for line := range strings.Lines(b.String()) {
			if isJSONObjectContainingAll(line, needles) {
				return line, nil
			}
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("no JSON log line containing %q within %v", needles, timeout)
		case <-tick.C:
		}
	}
}

func isJSONObjectContainingAll(line string, needles []string) bool {
	line = strings.TrimSpace(line)
	if !strings.HasPrefix(line, "{") || !json.Valid([]byte(line)) {
		return false
	}
	for _, n := range needles {
		if !strings.Contains(line, n) {
			return false
		}
	}
	return true
}
