package interop

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// server is one running relay process on loopback.
type server struct {
	kind     serverKind
	httpAddr string // 127.0.0.1:port of the DERP/HTTP listener
	stunAddr string // 127.0.0.1:port of the STUN socket
	logs     *logBuffer

	exited chan struct{} // closed when the process has been reaped
	proc   *os.Process
	// exitErr is the process's exit status once exited is closed.
	exitErr error
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
		exited:   make(chan struct{}),
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
		select {
		case <-s.exited:
			if !s.stopping {
				t.Errorf("%s exited during the test: %v", k, s.exitErr)
			}
		default:
		}
		stop()
		if t.Failed() {
			t.Logf("%s logs:\n%s", k, s.logs)
		}
	})
	return s, nil
}

// waitReady polls GET /derp/probe until it answers 200, the process exits,
// or readyTimeout passes.
func (s *server) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url("/derp/probe"), nil)
		if err != nil {
			return err
		}
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-s.exited:
			return errors.New("process exited before becoming ready")
		case <-ctx.Done():
			return fmt.Errorf("no 200 from /derp/probe within %v", readyTimeout)
		case <-tick.C:
		}
	}
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

var (
	portsMu   sync.Mutex
	portsUsed = map[int]bool{}
)

// freePorts returns a TCP and a UDP port on 127.0.0.1 that the kernel just
// reported free and that no other test in this process has been given. The
// server binds them a moment later; startServer retries if one was taken.
func freePorts(t *testing.T) (tcpPort, udpPort int) {
	t.Helper()
	portsMu.Lock()
	defer portsMu.Unlock()
	for tcpPort == 0 || udpPort == 0 {
		if tcpPort == 0 {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			p := ln.Addr().(*net.TCPAddr).Port
			ln.Close()
			if !portsUsed[p] {
				portsUsed[p], tcpPort = true, p
			}
		}
		if udpPort == 0 {
			pc, err := net.ListenPacket("udp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			p := pc.LocalAddr().(*net.UDPAddr).Port
			pc.Close()
			if !portsUsed[-p] { // UDP ports are kept as negatives
				portsUsed[-p], udpPort = true, p
			}
		}
	}
	return tcpPort, udpPort
}

// logBuffer collects a process's stdout and stderr for tests to search.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

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
