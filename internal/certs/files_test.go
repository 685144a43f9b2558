package certs

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFileBase(t *testing.T) {
	tests := []struct{ in, want string }{
		{"127.0.0.1", "127.0.0.1"},
		{"derp-1.Example.com", "derp-1.Example.com"},
		{"2001:db8::1", "2001db81"},
		{"a_b/../c d", "ab..cd"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := FileBase(tt.in); got != tt.want {
			t.Errorf("FileBase(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestPaths(t *testing.T) {
	crt, key := Paths("/d", "fe80::1")
	if crt != "/d/fe801.crt" || key != "/d/fe801.key" {
		t.Fatalf("Paths = %s, %s", crt, key)
	}
}

func mode(t *testing.T, path string) fs.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestWritePair(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	crt, key := Paths(dir, "127.0.0.1")
	if err := WritePair(crt, key, []byte("cert1"), []byte("key1"), false); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]fs.FileMode{dir: 0o700, crt: 0o644, key: 0o600} {
		if got := mode(t, path); got != want {
			t.Errorf("%s mode %v, want %v", path, got, want)
		}
	}

	err := WritePair(crt, key, []byte("cert2"), []byte("key2"), false)
	if !errors.Is(err, fs.ErrExist) || !strings.Contains(err.Error(), crt) {
		t.Fatalf("second write without overwrite: %v, want ErrExist naming %s", err, crt)
	}
	if b, _ := os.ReadFile(crt); string(b) != "cert1" {
		t.Fatalf("refused write changed the certificate to %q", b)
	}

	if err := os.Remove(crt); err != nil {
		t.Fatal(err)
	}
	err = WritePair(crt, key, []byte("cert2"), []byte("key2"), false)
	if !errors.Is(err, fs.ErrExist) || !strings.Contains(err.Error(), key) {
		t.Fatalf("write over a lone key: %v, want ErrExist naming %s", err, key)
	}

	if err := WritePair(crt, key, []byte("cert3"), []byte("key3"), true); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{crt: "cert3", key: "key3"} {
		if b, _ := os.ReadFile(path); string(b) != want {
			t.Errorf("%s = %q, want %q", path, b, want)
		}
	}
	if got := mode(t, key); got != 0o600 {
		t.Errorf("overwritten key mode %v, want 0600", got)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("directory holds %d entries, want the 2 files (no temporaries)", len(entries))
	}
}
