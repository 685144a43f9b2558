package key

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/relayctl/relayctl/internal/atomicfile"
	"github.com/relayctl/relayctl/internal/keyfile"
)

// nodeFile is derper's key file format ({"PrivateKey": "privkey:…"}), so an
// operator moving from derper can point --key-file at derper's config and
// keep the node's identity.
type nodeFile struct {
	PrivateKey NodePrivate
}

// LoadOrCreateNodeFile returns the node key stored at path, creating the
// file (mode 0600, parent directories 0700) with a fresh key when it does
// not exist. A file that others may read or write, or one in a directory
// others may write to, is refused: the key is the node's identity.
func LoadOrCreateNodeFile(path string) (k NodePrivate, created bool, err error) {
	if err := keyfile.CheckDir(filepath.Dir(path)); err != nil {
		return NodePrivate{}, false, err
	}
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		k = NewNode()
		if err := writeNodeFile(path, k); err != nil {
			return NodePrivate{}, false, err
		}
		return k, true, nil
	case err != nil:
		return NodePrivate{}, false, fmt.Errorf("key file %s: %w", path, err)
	}
	if err := keyfile.CheckPrivate(path); err != nil {
		return NodePrivate{}, false, err
	}
	var f nodeFile
	if err := json.Unmarshal(b, &f); err != nil {
		return NodePrivate{}, false, fmt.Errorf("key file %s: not a relay key file: %w", path, err)
	}
	if f.PrivateKey.IsZero() {
		return NodePrivate{}, false, fmt.Errorf("key file %s: no PrivateKey", path)
	}
	return f.PrivateKey, false, nil
}

func writeNodeFile(path string, k NodePrivate) error {
	b, err := json.MarshalIndent(nodeFile{PrivateKey: k}, "", "\t")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("key file %s: %w", path, err)
	}
	if err := atomicfile.Write(path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("key file %s: %w", path, err)
	}
	return nil
}

// ReadMeshKeyFile reads a region's mesh key from a file holding its 64 hex
// digits (derper's --mesh-psk-file format), refusing a file that others
// may read or write. A malformed key's error wraps ErrInvalidMeshKey.
func ReadMeshKeyFile(path string) (MeshKey, error) {
	if err := keyfile.CheckPrivate(path); err != nil {
		return MeshKey{}, err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return MeshKey{}, fmt.Errorf("mesh key file %s: %w", path, err)
	}
	k, err := ParseMeshKey(string(b))
	if err != nil {
		return MeshKey{}, fmt.Errorf("mesh key file %s: %w", path, err)
	}
	return k, nil
}
