// Package deploy holds the files an operator installs relayctl with; its
// tests check them with the tools that will read them.
package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSystemdUnitVerifies runs systemd-analyze verify on the unit. The
// unit names /usr/local/bin/relayctl; the test points ExecStart at a
// freshly built binary instead of installing one there.
func TestSystemdUnitVerifies(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed (Debian: apt-get install systemd); .ci/run installs it")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "relayctl")
	build := exec.Command("go", "build", "-o", bin, "..")
	build.Env = append(os.Environ(), "GOTOOLCHAIN=local")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	b, err := os.ReadFile("systemd/relayctl.service")
	if err != nil {
		t.Fatal(err)
	}
	unit := strings.ReplaceAll(string(b), "/usr/local/bin/relayctl", bin)
	path := filepath.Join(dir, "relayctl.service")
	if err := os.WriteFile(path, []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", "--man=no", path).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "" {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// TestSystemdUnitIsHardened guards the properties docs/region.md promises.
func TestSystemdUnitIsHardened(t *testing.T) {
	b, err := os.ReadFile("systemd/relayctl.service")
	if err != nil {
		t.Fatal(err)
	}
	unit := string(b)
	for _, want := range []string{
		"DynamicUser=yes", "StateDirectory=relayctl", "AmbientCapabilities=CAP_NET_BIND_SERVICE",
		"CapabilityBoundingSet=CAP_NET_BIND_SERVICE", "NoNewPrivileges=yes", "ProtectSystem=strict",
		"ExecReload=/bin/kill -HUP $MAINPID",
	} {
		if !strings.Contains(unit, want+"\n") {
			t.Errorf("unit lacks %q", want)
		}
	}
	for _, l := range strings.Split(unit, "\n") {
		if strings.HasPrefix(l, "AmbientCapabilities=") && l != "AmbientCapabilities=CAP_NET_BIND_SERVICE" {
			t.Errorf("extra capabilities: %s", l)
		}
	}
}
