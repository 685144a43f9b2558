// Package keyfile loads and creates the relay node's private key file. The
// format is derper's ({"PrivateKey": "privkey:…"}), so an operator moving
// from derper can point --key-file at derper's config and keep the node's
// identity.
package keyfile

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/relayctl/relayctl/internal/atomicfile"
	"github.com/relayctl/relayctl/relay/key"
)

type fileFormat struct {
	PrivateKey key.NodePrivate
}

// LoadOrCreate returns the key stored at path, creating the file (mode
// 0600, parent directories 0700) with a fresh key when it does not exist.
// A file that others may read or write is refused: the key is the node's
// identity.
func LoadOrCreate(path string) (k key.NodePrivate, created bool, err error) {
	if err := CheckDir(filepath.Dir(path)); err != nil {
		return key.NodePrivate{}, false, err
	}
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		k = key.NewNode()
		if err := write(path, k); err != nil {
			return key.NodePrivate{}, false, err
		}
		return k, true, nil
	case err != nil:
		return key.NodePrivate{}, false, fmt.Errorf("key file %s: %w", path, err)
	}
	if err := CheckPrivate(path); err != nil {
		return key.NodePrivate{}, false, err
	}
	var f fileFormat
	if err := json.Unmarshal(b, &f); err != nil {
		return key.NodePrivate{}, false, fmt.Errorf("key file %s: not a relay key file: %w", path, err)
	}
	if f.PrivateKey.IsZero() {
		return key.NodePrivate{}, false, fmt.Errorf("key file %s: no PrivateKey", path)
	}
	return f.PrivateKey, false, nil
}

// CheckPrivate refuses a secret file whose mode lets anyone but its owner
// read or write it.
func CheckPrivate(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("secret file %s: %w", path, err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("secret file %s has mode %04o, readable or writable by others; run: chmod 600 %s", path, perm, path)
	}
	return nil
}

// CheckDir refuses a directory for keys and state that others may write
// to: they could plant a symlink where relayctl writes, or swap the key.
// A directory that does not exist yet passes (relayctl creates it 0700).
func CheckDir(dir string) error {
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("directory %s: %w", dir, err)
	}
	if perm := fi.Mode().Perm(); perm&0o022 != 0 {
		return fmt.Errorf("directory %s has mode %04o: others can write to it and replace keys or plant files; run: chmod go-w %s (or keep keys elsewhere)", dir, perm, dir)
	}
	return nil
}

func write(path string, k key.NodePrivate) error {
	b, err := json.MarshalIndent(fileFormat{PrivateKey: k}, "", "\t")
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
