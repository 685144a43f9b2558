package key

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadOrCreateNodeFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "relay-key.json")
	k, created, err := LoadOrCreateNodeFile(path)
	if err != nil || !created {
		t.Fatalf("create: %v created=%v", err, created)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v %v, want 0600", fi.Mode(), err)
	}
	b, _ := os.ReadFile(path)
	if !strings.Contains(string(b), `"PrivateKey": "privkey:`) {
		t.Fatalf("file %s is not in derper's format", b)
	}
	again, created, err := LoadOrCreateNodeFile(path)
	if err != nil || created || again != k {
		t.Fatalf("reload: %v created=%v same=%v", err, created, again == k)
	}
}

// TestReadsDerperConfig: an operator moving from derper keeps the node's
// identity by pointing --key-file at derper's file (tab-indented, no
// trailing newline).
func TestReadsDerperConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "derper.key")
	hex := strings.Repeat("ab", 32)
	os.WriteFile(path, []byte("{\n\t\"PrivateKey\": \"privkey:"+hex+"\"\n}"), 0o600)
	k, _, err := LoadOrCreateNodeFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if k.String() != "privkey:"+hex {
		t.Fatalf("got %s", k.String())
	}
}

func TestRefusesBadFiles(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, body, want string
		mode             os.FileMode
	}{
		{"world_readable", `{"PrivateKey":"privkey:` + strings.Repeat("ab", 32) + `"}`, "chmod 600", 0o644},
		{"group_writable", `{"PrivateKey":"privkey:` + strings.Repeat("ab", 32) + `"}`, "chmod 600", 0o620},
		{"not_json", "hello", "not a relay key file", 0o600},
		{"no_key", "{}", "no PrivateKey", 0o600},
		{"bad_prefix", `{"PrivateKey":"nodekey:` + strings.Repeat("ab", 32) + `"}`, "privkey:", 0o600},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name)
			os.WriteFile(path, []byte(tc.body), tc.mode)
			os.Chmod(path, tc.mode)
			_, _, err := LoadOrCreateNodeFile(path)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("err %v, want one naming %s and %q", err, path, tc.want)
			}
		})
	}
}

// TestRefusesWritableDirectory: a key kept in a directory that others can
// write to is refused, naming the directory and the chmod.
func TestRefusesWritableDirectory(t *testing.T) {
	for _, mode := range []os.FileMode{0o777, 0o770, 0o1777} {
		dir := filepath.Join(t.TempDir(), "keys")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, mode); err != nil {
			t.Fatal(err)
		}
		_, _, err := LoadOrCreateNodeFile(filepath.Join(dir, "relay-key.json"))
		if err == nil || !strings.Contains(err.Error(), "directory "+dir+" has mode") || !strings.Contains(err.Error(), "chmod go-w "+dir) {
			t.Fatalf("mode %04o: error %v, want the directory named with a chmod", mode, err)
		}
	}
}

func TestReadMeshKeyFile(t *testing.T) {
	hex64 := strings.Repeat("0f", 32)
	for _, tc := range []struct {
		name, body string
		mode       os.FileMode
		want       string // "" for the key
		invalid    bool   // the error wraps ErrInvalidMeshKey
	}{
		{"good", hex64 + "\n", 0o600, "", false},
		{"upper_case", strings.ToUpper(hex64), 0o400, "", false},
		{"world_readable", hex64, 0o644, "chmod 600", false},
		{"short", "abcd\n", 0o600, "want 64 hex characters", true},
		{"not_hex", strings.Repeat("zz", 32), 0o600, "invalid", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "mesh.key")
			if err := os.WriteFile(path, []byte(tc.body), tc.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tc.mode); err != nil {
				t.Fatal(err)
			}
			k, err := ReadMeshKeyFile(path)
			if tc.want == "" {
				if err != nil || k.Hex() != hex64 {
					t.Fatalf("got %s, %v; want the key", k.Hex(), err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("error %v, want one naming %s and %q", err, path, tc.want)
			}
			if got := errors.Is(err, ErrInvalidMeshKey); got != tc.invalid {
				t.Fatalf("errors.Is(ErrInvalidMeshKey) = %v, want %v", got, tc.invalid)
			}
		})
	}
	if _, err := ReadMeshKeyFile(filepath.Join(t.TempDir(), "absent")); err == nil {
		t.Fatal("a missing file gave a key")
	}
}
