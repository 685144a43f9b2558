package node

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/relayctl/relayctl/config/configtest"
	"github.com/relayctl/relayctl/internal/syncbuf"
)

// TestBadMeshKeyCreatesNoNodeKey: a start refused for its mesh key leaves
// nothing behind, so the operator's first start after fixing the mesh
// key is the one that creates the node key (and logs it).
func TestBadMeshKeyCreatesNoNodeKey(t *testing.T) {
	dir := configtest.Isolate(t)
	keyFile := filepath.Join(dir, "key.json")
	meshFile := filepath.Join(dir, "mesh.key")
	if err := os.WriteFile(meshFile, []byte("not a mesh key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	src := sourcesFor(t, "", "--certmode", "none", "--addr", "127.0.0.1:0", "--stun-port", "0", "--key-file", keyFile, "--mesh-psk-file", meshFile)
	cfg, res, err := Resolve(src)
	if err != nil {
		t.Fatal(err)
	}
	n, err := New(cfg, Options{Resolved: res, Sources: &src, Stderr: &syncbuf.Buffer{}})
	if err != nil {
		t.Fatal(err)
	}
	err = n.Run(t.Context())
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("Run = %v, want a *ConfigError for the mesh key", err)
	}
	if _, err := os.Stat(keyFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("node key file created by a start refused for its mesh key: %v", err)
	}
}
