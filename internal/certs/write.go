package certs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/relayctl/relayctl/internal/atomicfile"
)

// WritePair writes a certificate (mode 0644) and its key (mode 0600),
// creating their directory with mode 0700 if needed. Each file is written
// to a temporary name and renamed into place, so a running relay that
// reloads them never reads half a file. Unless overwrite is set, an
// existing file is left alone and the error wraps fs.ErrExist and names it.
func WritePair(certFile, keyFile string, certPEM, keyPEM []byte, overwrite bool) error {
	if !overwrite {
		for _, f := range []string{certFile, keyFile} {
			if _, err := os.Lstat(f); err == nil {
				return fmt.Errorf("%s: %w", f, fs.ErrExist)
			} else if !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
	}
	for _, dir := range []string{filepath.Dir(certFile), filepath.Dir(keyFile)} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
	}
	// The key goes first: a reader that sees the new certificate also
	// finds its key.
	if err := writeAtomic(keyFile, keyPEM, 0o600); err != nil {
		return err
	}
	return writeAtomic(certFile, certPEM, 0o644)
}

func writeAtomic(path string, data []byte, mode os.FileMode) error {
	if err := atomicfile.Write(path, data, mode); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
