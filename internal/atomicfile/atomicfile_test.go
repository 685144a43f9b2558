package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

// TestWriteReplacesThroughAFreshName: the content and mode land, no
// temporary file is left, and a symlink planted at a predictable
// temporary name is not written through.
func TestWriteReplacesThroughAFreshName(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	victim := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(victim, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"state.json.tmp", ".state.json.tmp", "state.json.tmp0"} {
		if err := os.Symlink(victim, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := Write(path, []byte("new"), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "new" {
		t.Errorf("content %q", b)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode().Perm())
	}
	if b, _ := os.ReadFile(victim); string(b) != "keep" {
		t.Errorf("written through a planted symlink: %q", b)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 4 {
		t.Errorf("%d entries, want the file and the 3 planted links", len(entries))
	}
}
