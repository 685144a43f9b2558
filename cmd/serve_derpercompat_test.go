package cmd

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/relayctl/relayctl/config/configtest"
	"github.com/relayctl/relayctl/internal/derperflags"
	"github.com/relayctl/relayctl/relay/node"
)

// Every relayctl setting the migration table names is a serve flag.
func TestDerperTableSettingsAreServeFlags(t *testing.T) {
	fs := node.Spec().NewFlags()
	for _, f := range derperflags.Flags {
		if f.Carried() && fs.Lookup(f.Setting) == nil {
			t.Errorf("derper -%s maps to --%s, which serve does not have", f.Name, f.Setting)
		}
	}
}

// A converted derper command line, saved as the config file, resolves to
// the same settings in relayctl.
func TestFromDerperConfigRoundTrip(t *testing.T) {
	dir := configtest.Isolate(t)
	args := []string{"config", "from-derper", "--", "/usr/local/bin/derper", "-hostname", "derp.example.com", "-a", ":33445",
		"-http-port", "-1", "-certmode", "manual", "-certdir", "/etc/derp", "-verify-clients",
		"-c", "/var/lib/derper/derper.key", "-mesh-with", "d1.example.com,d2.example.com/10.0.0.2",
		"-mesh-psk-file", "/etc/derp/mesh.key", "--rate-config=/etc/derp/rate.json", "-derp=false",
		"-unpublished-bootstrap-dns-names", "a.example.com/rollout.example.com"}
	stdout, stderr, code := runCLI(t, args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"relayctl serve --addr=:33445", "Behaviour that differs", "used as is"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	cfg := filepath.Join(dir, "relayctl.yaml")
	if err := os.WriteFile(cfg, []byte(stdout), 0o600); err != nil {
		t.Fatal(err)
	}
	// config show reads the rate-config file: give it one.
	out, stderr, code := runCLI(t, "config", "show", "--json", "--config", cfg, "--rate-config", "")
	if code != 0 {
		t.Fatalf("config show: exit %d: %s\nconfig:\n%s", code, stderr, stdout)
	}
	var entries []struct{ Name, Value, Source string }
	if err := json.Unmarshal([]byte(out), &entries); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, e := range entries {
		if e.Source == "file" {
			got[e.Name] = e.Value
		}
	}
	want := map[string]string{"addr": ":33445", "hostname": "derp.example.com", "http-port": "-1", "certmode": "manual",
		"certdir": "/etc/derp", "verify-clients": "true", "key-file": "/var/lib/derper/derper.key",
		"mesh-with": "d1.example.com,d2.example.com/10.0.0.2", "mesh-psk-file": "/etc/derp/mesh.key",
		"derp": "false", "unpublished-bootstrap-dns-names": "a.example.com/rollout.example.com"}
	for name, v := range want {
		if got[name] != v {
			t.Errorf("%s = %q from the file, want %q", name, got[name], v)
		}
	}
}

func TestFromDerperUsage(t *testing.T) {
	dir := t.TempDir()
	unit := filepath.Join(dir, "derper.service")
	os.WriteFile(unit, []byte("[Service]\nEnvironment=TAILSCALE_DERPER_MESH_KEY=x\nExecStart=/usr/bin/derper -hostname derp.example.com -a :8080\n"), 0o644)
	tests := []struct {
		args       []string
		code       int
		wantStdout string
		wantStderr string
	}{
		{[]string{"--unit", unit}, 0, `certmode: "none"`, "the unit sets TAILSCALE_DERPER_MESH_KEY"},
		{[]string{"--unit=" + unit}, 0, `addr: ":8080"`, "plain HTTP on port 8080"},
		{[]string{"-hostname", "x", "-a", ":80"}, 0, `hostname: "x"`, ""}, // no -- needed
		{[]string{"--", "-bogus"}, 2, "", "flag provided but not defined: -bogus"},
		{[]string{"--unit", unit, "-a", ":80"}, 2, "", "either --unit or derper's arguments"},
		{[]string{"--unit", filepath.Join(dir, "missing")}, 2, "", "--unit:"},
		{nil, 2, "", "give derper's arguments"},
		{[]string{"--help"}, 0, "Usage:", ""},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			stdout, stderr, code := runCLI(t, append([]string{"config", "from-derper"}, tt.args...)...)
			if code != tt.code || !strings.Contains(stdout, tt.wantStdout) || !strings.Contains(stderr, tt.wantStderr) {
				t.Errorf("exit %d (want %d)\nstdout %s (want %q)\nstderr %s (want %q)", code, tt.code, stdout, tt.wantStdout, stderr, tt.wantStderr)
			}
		})
	}
}
