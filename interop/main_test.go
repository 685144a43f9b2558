package interop

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// serverKind names a server implementation under test.
type serverKind string

const (
	derperServer   serverKind = "derper"
	relayctlServer serverKind = "relayctl"
)

// serverBinary is a built (or supplied) server executable. buildErr is kept
// rather than aborting TestMain so that one broken implementation fails only
// its own half of the table.
type serverBinary struct {
	kind     serverKind
	path     string
	buildErr error
}

var binaries = map[serverKind]*serverBinary{}

// buildDir holds the binaries built for this run (see toolBinary).
var buildDir string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "relayctl-interop-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "interop:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	buildDir = dir

	builds := []struct {
		kind  serverKind
		env   string // names a prebuilt binary to use instead
		chdir string // go build -C: "" for this module, ".." for the main one
		pkg   string
	}{
		{derperServer, "DERPER_BIN", "", "tailscale.com/cmd/derper"},
		{relayctlServer, "RELAYCTL_BIN", "..", "."},
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, b := range builds {
		if !serverSelected(b.kind) {
			continue
		}
		wg.Go(func() {
			bin := &serverBinary{kind: b.kind, path: os.Getenv(b.env)}
			if bin.path == "" {
				bin.path = filepath.Join(dir, string(b.kind))
				bin.buildErr = buildServer(bin.path, b.chdir, b.pkg)
			}
			mu.Lock()
			binaries[b.kind] = bin
			mu.Unlock()
		})
	}
	wg.Wait()
	return m.Run()
}

// buildServer runs go build with the local toolchain, from the interop module
// (derper, pinned by this module's go.mod) or with -C into the main module.
func buildServer(out, chdir, pkg string) error {
	args := []string{"build"}
	if chdir != "" {
		args = append(args, "-C", chdir)
	}
	abs, err := filepath.Abs(out)
	if err != nil {
		return err
	}
	args = append(args, "-o", abs, pkg)
	cmd := exec.Command("go", args...)
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, b)
	}
	return nil
}

// serverSelected honours INTEROP_SERVERS (comma-separated kinds); unset
// means every implementation.
func serverSelected(k serverKind) bool {
	v := os.Getenv("INTEROP_SERVERS")
	if v == "" {
		return true
	}
	for _, s := range strings.Split(v, ",") {
		if strings.TrimSpace(s) == string(k) {
			return true
		}
	}
	return false
}

// selectedKinds lists the implementations this run covers, derper first.
func selectedKinds() []serverKind {
	var ks []serverKind
	for _, k := range []serverKind{derperServer, relayctlServer} {
		if serverSelected(k) {
			ks = append(ks, k)
		}
	}
	return ks
}

// binaryFor fails the test if the implementation could not be built.
func binaryFor(t *testing.T, k serverKind) string {
	t.Helper()
	b := binaries[k]
	if b == nil {
		t.Fatalf("no %s binary (not selected by INTEROP_SERVERS)", k)
	}
	if b.buildErr != nil {
		t.Fatalf("building %s: %v", k, b.buildErr)
	}
	return b.path
}
