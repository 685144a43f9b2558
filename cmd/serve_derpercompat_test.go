package cmd

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/relayctl/relayctl/internal/derperflags"
	"github.com/relayctl/relayctl/relay/key"
)

// Every relayctl setting the migration table names is a serve flag.
func TestDerperTableSettingsAreServeFlags(t *testing.T) {
	fs := serveSpec().NewFlags()
	for _, f := range derperflags.Flags {
		if f.Carried() && fs.Lookup(f.Setting) == nil {
			t.Errorf("derper -%s maps to --%s, which serve does not have", f.Name, f.Setting)
		}
	}
}

// A converted derper command line, saved as the config file, resolves to
// the same settings in relayctl.
func TestFromDerperConfigRoundTrip(t *testing.T) {
	dir := isolate(t)
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

func TestReadRateConfig(t *testing.T) {
	tests := []struct {
		body      string
		want      map[string]string
		wantError string
	}{
		{body: `{"PerClientRateLimitBytesPerSec": 100000, "PerClientRateBurstBytes": 200000}`,
			want: map[string]string{"per-client-rate-limit": "100000", "per-client-rate-burst": "200000"}},
		// derper raises a small burst to one largest frame.
		{body: `{"PerClientRateLimitBytesPerSec": 100000, "PerClientRateBurstBytes": 10}`,
			want: map[string]string{"per-client-rate-limit": "100000", "per-client-rate-burst": "65568"}},
		{body: `{"PerClientRateLimitBytesPerSec": 100000}`,
			want: map[string]string{"per-client-rate-limit": "100000", "per-client-rate-burst": "65568"}},
		// Zero (or an empty object) turns rate limiting off, as in derper.
		{body: `{}`, want: map[string]string{"per-client-rate-limit": "0"}},
		{body: `{"PerClientRateLimitBytesPerSecond": 1}`, wantError: `unknown field "PerClientRateLimitBytesPerSecond"`},
		{body: `{"PerClientRateLimitBytesPerSec": -1}`, wantError: "not a derper rate config"},
		{body: `{"PerClientRateLimitBytesPerSec": 18446744073709551615}`, wantError: "too large"},
	}
	for _, tt := range tests {
		t.Run(tt.body, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "rate.json")
			os.WriteFile(path, []byte(tt.body), 0o644)
			got, err := readRateConfig(path)
			if tt.wantError != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantError) {
					t.Fatalf("error %v, want %q", err, tt.wantError)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
		})
	}
}

// --rate-config values show with source rate-config, above the flags.
func TestRateConfigSource(t *testing.T) {
	dir := isolate(t)
	path := filepath.Join(dir, "rate.json")
	os.WriteFile(path, []byte(`{"PerClientRateLimitBytesPerSec": 5000}`), 0o644)
	o, err := parseServe(t, "--certmode", "none", "--per-client-rate-limit", "7", "--rate-config", path)
	if err != nil {
		t.Fatal(err)
	}
	if o.PerClientRate != 5000 || o.sourceOf("per-client-rate-limit") != sourceRateConfig {
		t.Errorf("rate %d from %s, want 5000 from rate-config", o.PerClientRate, o.sourceOf("per-client-rate-limit"))
	}
	os.WriteFile(path, []byte(`{"PerClientRateLimit": 5000}`), 0o644)
	if _, err := parseServe(t, "--certmode", "none", "--rate-config", path); err == nil || !strings.Contains(err.Error(), "rate-config "+path) {
		t.Errorf("bad file: error %v, want it to name --rate-config's file", err)
	}
}

// derper's TAILSCALE_DERPER_MESH_KEY is read when no --mesh-psk-file is
// given; the file wins.
func TestMeshKeyFromDerperEnv(t *testing.T) {
	dir := isolate(t)
	fileKey, envKey := key.NewMesh(), key.NewMesh()
	file := filepath.Join(dir, "mesh.key")
	os.WriteFile(file, []byte(fileKey.Hex()+"\n"), 0o600)

	t.Setenv(derperflags.MeshKeyEnv, envKey.Hex())
	k, from, err := loadMeshKeyOrEnv("")
	if err != nil || k != envKey || from != derperflags.MeshKeyEnv {
		t.Errorf("env only: key match %v, from %q, err %v", k == envKey, from, err)
	}
	k, from, err = loadMeshKeyOrEnv(file)
	if err != nil || k != fileKey || from != file {
		t.Errorf("file and env: key match %v (want the file's), from %q, err %v", k == fileKey, from, err)
	}
	if _, err := parseServe(t, "--certmode", "none", "--mesh-with", "d2.example.com"); err != nil {
		t.Errorf("--mesh-with with the key in %s: %v", derperflags.MeshKeyEnv, err)
	}

	t.Setenv(derperflags.MeshKeyEnv, "not-hex")
	if _, _, err := loadMeshKeyOrEnv(""); err == nil || !strings.Contains(err.Error(), derperflags.MeshKeyEnv) {
		t.Errorf("bad env key: error %v, want it to name %s", err, derperflags.MeshKeyEnv)
	}
	t.Setenv(derperflags.MeshKeyEnv, "")
	if k, from, err := loadMeshKeyOrEnv(""); err != nil || !k.IsZero() || from != "" {
		t.Errorf("no key at all: %v %q %v", k.IsZero(), from, err)
	}
	if _, err := parseServe(t, "--certmode", "none", "--mesh-with", "d2.example.com"); err == nil {
		t.Error("--mesh-with without any mesh key accepted")
	}
}

func TestEABFlags(t *testing.T) {
	isolate(t)
	base := []string{"--hostname", "derp.example.com", "--certdir", t.TempDir()}
	tests := []struct {
		args []string
		want string // error substring; "" for success
	}{
		{[]string{"--acme-eab-kid", "kid1", "--acme-eab-key", "c2VjcmV0LWhtYWMta2V5"}, ""},
		{[]string{"--acme-eab-kid", "kid1", "--acme-eab-key", "a2V5_-8"}, ""}, // base64url
		{[]string{"--acme-eab-kid", "kid1"}, "go together"},
		{[]string{"--acme-eab-key", "c2VjcmV0"}, "go together"},
		{[]string{"--acme-eab-kid", "kid1", "--acme-eab-key", "not base64!"}, "--acme-eab-key: not base64"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			o, err := parseServe(t, append(base, tt.args...)...)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if eab, err := o.Derper.eab(); err != nil || eab == nil || eab.KID != "kid1" {
					t.Errorf("eab %+v %v", eab, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
}
