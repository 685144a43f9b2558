package keyfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckPrivate(t *testing.T) {
	for _, tc := range []struct {
		name string
		mode os.FileMode
		want string // "" for no error
	}{
		{"owner_only", 0o600, ""},
		{"owner_read_only", 0o400, ""},
		{"world_readable", 0o644, "chmod 600"},
		{"group_writable", 0o620, "chmod 600"},
		{"group_readable", 0o640, "chmod 600"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "secret")
			if err := os.WriteFile(path, []byte("x"), tc.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tc.mode); err != nil {
				t.Fatal(err)
			}
			err := CheckPrivate(path)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("mode %04o refused: %v", tc.mode, err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path)):
				t.Fatalf("mode %04o: error %v, want one naming %s and %q", tc.mode, err, path, tc.want)
			}
		})
	}
}

func TestCheckPrivateMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "absent")
	if err := CheckPrivate(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("error %v, want one naming %s", err, path)
	}
}

// TestCheckDir: a directory others can write to is refused, naming the
// directory and the chmod; one that does not exist yet passes.
func TestCheckDir(t *testing.T) {
	for _, tc := range []struct {
		name string
		mode os.FileMode
		ok   bool
	}{
		{"owner_only", 0o700, true},
		{"others_read", 0o755, true},
		{"world_writable", 0o777, false},
		{"group_writable", 0o770, false},
		{"sticky_world_writable", 0o1777, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "keys")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(dir, tc.mode); err != nil {
				t.Fatal(err)
			}
			err := CheckDir(dir)
			if tc.ok {
				if err != nil {
					t.Fatalf("mode %04o refused: %v", tc.mode, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "directory "+dir+" has mode") || !strings.Contains(err.Error(), "chmod go-w "+dir) {
				t.Fatalf("mode %04o: error %v, want the directory named with a chmod", tc.mode, err)
			}
		})
	}
	if err := CheckDir(filepath.Join(t.TempDir(), "not", "yet")); err != nil {
		t.Fatalf("a directory still to be made: %v", err)
	}
}
