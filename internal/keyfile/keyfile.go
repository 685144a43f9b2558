// Package keyfile checks the permissions of files that hold secrets (node
// keys, mesh keys, TLS private keys) and of the directories that hold
// them. What a key file contains is its key type's business (relay/key
// reads and writes the node key file); this package only refuses a file
// or directory that someone other than its owner could read or replace.
package keyfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

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
