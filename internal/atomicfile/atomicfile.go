// Package atomicfile replaces files so that a reader sees the old content
// or the new, never half of each, and a crash never leaves a truncated
// key, certificate or state file behind.
package atomicfile

import (
	"os"
	"path/filepath"
)

// Write replaces path with data. The temporary file gets a fresh random
// name in path's directory (a fixed name could be a symlink planted by
// whoever else can write there), mode mode, and is synced before the
// rename.
func Write(path string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // a no-op once renamed
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
