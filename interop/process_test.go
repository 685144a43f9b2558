package interop

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/relayctl/relayctl/internal/serverproc"
)

// process is a helper program (a CA, a DNS server, a relay with custom
// flags) run for one test and killed at its cleanup.
type process struct {
	name   string
	logs   *logBuffer
	exited <-chan struct{}
}

// startProcess runs bin with args and extra environment, logging to a
// buffer shown when the test fails.
func startProcess(t *testing.T, name, bin string, env []string, args ...string) *process {
	t.Helper()
	logs := &logBuffer{}
	cmd := exec.Command(bin, args...)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logs, logs
	p, err := serverproc.Start(cmd)
	if err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("%s (%s %s) logs:\n%s", name, filepath.Base(bin), strings.Join(args, " "), logs)
		}
	})
	return &process{name: name, logs: logs, exited: p.Exited()}
}

// waitLog waits until the process has logged a line containing all of
// needles.
func (p *process) waitLog(t *testing.T, timeout time.Duration, needles ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	for {
		for line := range strings.Lines(p.logs.String()) {
			if containsAll(line, needles) {
				return
			}
		}
		select {
		case <-p.exited:
			t.Fatalf("%s exited before logging %q", p.name, needles)
		case <-ctx.Done():
			t.Fatalf("%s: no log line with %q within %v", p.name, needles, timeout)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func containsAll(s string, needles []string) bool {
	for _, n := range needles {
		if !strings.Contains(s, n) {
			return false
		}
	}
	return true
}

// waitUntil polls f until it returns nil or timeout passes.
func waitUntil(t *testing.T, timeout time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing after %v: %v", what, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func portString(p int) string { return fmt.Sprint(p) }
