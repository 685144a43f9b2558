package certs

import "os"

// WriteFileAtomic replaces path with data through a temporary file in the
// same directory and a rename, so a reader sees the old file or the new
// one, never half of each.
func WriteFileAtomic(path string, data []byte, mode os.FileMode) error {
	return writeAtomic(path, data, mode)
}
