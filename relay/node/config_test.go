package node

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/relayctl/relayctl/config/configtest"
)

// TestConfigBuiltInCode: a Config from DefaultConfig, set in code with
// no resolution behind it, is completed and checked the same way: --dev
// replaces only the settings still at their defaults, and errors name
// the setting as a flag.
func TestConfigBuiltInCode(t *testing.T) {
	dir := configtest.Isolate(t)
	for _, tc := range []struct {
		name     string
		set      func(c *Config)
		wantAddr string
		wantErr  string
	}{
		{"dev", func(c *Config) { c.Dev = true }, devAddr, ""},
		{"dev_keeps_addr", func(c *Config) { c.Dev, c.Addr = true, "127.0.0.1:9999" }, "127.0.0.1:9999", ""},
		{"bad_port", func(c *Config) { c.CertMode, c.STUNPort = "none", 70000 }, "", "--stun-port: want 0 to 65535"},
		{"negative_duration", func(c *Config) { c.CertMode, c.DrainTimeout = "none", -1 }, "", "--drain-timeout: want 0 (off) or a positive duration"},
		{"tls_needs_hostname", func(c *Config) { c.CertMode = "manual" }, "", "--hostname is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			c.KeyFile = filepath.Join(dir, "key.json")
			tc.set(&c)
			n, err := New(c, Options{})
			if tc.wantErr != "" {
				var ce *ConfigError
				if !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want a *ConfigError with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := n.Config(); got.Addr != tc.wantAddr || got.CertMode != "none" || got.NodeName == "" {
				t.Errorf("addr %q certmode %q node name %q", got.Addr, got.CertMode, got.NodeName)
			}
		})
	}
}
