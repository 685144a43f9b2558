package interop

import (
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var (
	toolsMu sync.Mutex
	tools   = map[string]*toolBuild{}
)

type toolBuild struct {
	once sync.Once
	path string
	err  error
}

// toolBinary builds a command of this module's go.mod (a `tool` line) once
// per test run and returns its path.
func toolBinary(t *testing.T, pkg string) string {
	t.Helper()
	toolsMu.Lock()
	b := tools[pkg]
	if b == nil {
		b = &toolBuild{}
		tools[pkg] = b
	}
	toolsMu.Unlock()
	b.once.Do(func() {
		b.path = filepath.Join(buildDir, path.Base(pkg))
		b.err = buildServer(b.path, "", pkg)
	})
	if b.err != nil {
		t.Fatalf("building %s: %v", pkg, b.err)
	}
	return b.path
}

// moduleDir is where the module cache holds a dependency of this module,
// for data files it ships (pebble's test certificates).
func moduleDir(t *testing.T, mod string) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", mod).Output()
	if err != nil {
		t.Fatalf("go list -m %s: %v", mod, err)
	}
	return strings.TrimSpace(string(out))
}
