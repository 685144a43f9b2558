package mesh

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadKeyFile(t *testing.T) {
	const hex = "0123456789abcdef0123456789ABCDEF0123456789abcdef0123456789abcdef"
	tests := []struct {
		name    string
		content string
		mode    os.FileMode
		wantErr []string // substrings; none: the key reads
	}{
		{"key_and_newline", hex + "\n", 0o600, nil},
		{"surrounding_space", "  " + hex + " \r\n", 0o400, nil},
		{"readable_by_others", hex, 0o644, []string{"mode 0644", "chmod 600"}},
		{"group_writable", hex, 0o620, []string{"mode 0620"}},
		{"too_short", hex[:63], 0o600, []string{"mesh key file", "want 64 hex characters", "relayctl keygen >"}},
		{"not_hex", strings.Repeat("zz", 32), 0o600, []string{"mesh key file", "invalid mesh key"}},
		{"all_zero", strings.Repeat("0", 64), 0o600, []string{"all zero", "relayctl keygen >"}},
		{"empty", "", 0o600, []string{"want 64 hex characters, got 0"}},
		{"huge", strings.Repeat("a", maxKeyFileSize+1), 0o600, []string{"larger than 4096 bytes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "mesh.key")
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tt.mode); err != nil {
				t.Fatal(err)
			}
			k, err := ReadKeyFile(path)
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if got := k.Hex(); got != strings.ToLower(hex) {
					t.Errorf("key %s, want %s", got, strings.ToLower(hex))
				}
				return
			}
			if err == nil {
				t.Fatalf("read %q as a key, want an error", tt.content)
			}
			for _, w := range append(tt.wantErr, path) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
	if _, err := ReadKeyFile(filepath.Join(t.TempDir(), "missing.key")); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing file: %v", err)
	}
}
