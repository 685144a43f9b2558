package node

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/relayctl/relayctl/config/configtest"
	"github.com/relayctl/relayctl/internal/derperflags"
	"github.com/relayctl/relayctl/relay/key"
)

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
	dir := configtest.Isolate(t)
	path := filepath.Join(dir, "rate.json")
	os.WriteFile(path, []byte(`{"PerClientRateLimitBytesPerSec": 5000}`), 0o644)
	n, err := newFromArgs(t, "--certmode", "none", "--per-client-rate-limit", "7", "--rate-config", path)
	if err != nil {
		t.Fatal(err)
	}
	if n.cfg.PerClientRate != 5000 || n.src.sourceOf(nameRateLimit) != sourceRateConfig {
		t.Errorf("rate %d from %s, want 5000 from rate-config", n.cfg.PerClientRate, n.src.sourceOf(nameRateLimit))
	}
	os.WriteFile(path, []byte(`{"PerClientRateLimit": 5000}`), 0o644)
	if _, err := newFromArgs(t, "--certmode", "none", "--rate-config", path); err == nil || !strings.Contains(err.Error(), "rate-config "+path) {
		t.Errorf("bad file: error %v, want it to name --rate-config's file", err)
	}
}

// derper's TAILSCALE_DERPER_MESH_KEY is read when no --mesh-psk-file is
// given; the file wins.
func TestMeshKeyFromDerperEnv(t *testing.T) {
	dir := configtest.Isolate(t)
	fileKey, envKey := key.NewMesh(), key.NewMesh()
	file := filepath.Join(dir, "mesh.key")
	os.WriteFile(file, []byte(fileKey.Hex()+"\n"), 0o600)

	t.Setenv(derperflags.MeshKeyEnv, envKey.Hex())
	k, from, err := (&Config{}).meshKey()
	if err != nil || k != envKey || from != derperflags.MeshKeyEnv {
		t.Errorf("env only: key match %v, from %q, err %v", k == envKey, from, err)
	}
	k, from, err = (&Config{MeshPSKFile: file}).meshKey()
	if err != nil || k != fileKey || from != file {
		t.Errorf("file and env: key match %v (want the file's), from %q, err %v", k == fileKey, from, err)
	}
	if _, err := newFromArgs(t, "--certmode", "none", "--mesh-with", "d2.example.com"); err != nil {
		t.Errorf("--mesh-with with the key in %s: %v", derperflags.MeshKeyEnv, err)
	}

	t.Setenv(derperflags.MeshKeyEnv, "not-hex")
	if _, _, err := (&Config{}).meshKey(); err == nil || !strings.Contains(err.Error(), derperflags.MeshKeyEnv) {
		t.Errorf("bad env key: error %v, want it to name %s", err, derperflags.MeshKeyEnv)
	}
	t.Setenv(derperflags.MeshKeyEnv, "")
	if k, from, err := (&Config{}).meshKey(); err != nil || !k.IsZero() || from != "" {
		t.Errorf("no key at all: %v %q %v", k.IsZero(), from, err)
	}
	if _, err := newFromArgs(t, "--certmode", "none", "--mesh-with", "d2.example.com"); err == nil {
		t.Error("--mesh-with without any mesh key accepted")
	}
}

func TestEABFlags(t *testing.T) {
	configtest.Isolate(t)
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
			n, err := newFromArgs(t, append(base, tt.args...)...)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if eab, err := n.cfg.eab(); err != nil || eab == nil || eab.KID != "kid1" {
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
