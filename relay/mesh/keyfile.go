package mesh

import (
	"fmt"
	"io"
	"os"

	"github.com/relayctl/relayctl/internal/keyfile"
	"github.com/relayctl/relayctl/relay/key"
)

// maxKeyFileSize bounds what ReadKeyFile reads: a key file holds 64 hex
// digits and perhaps a newline, so anything much larger is the wrong file.
const maxKeyFileSize = 4 << 10

// ReadKeyFile reads a region's mesh key from a PSK file: 64 hex digits,
// white space around them ignored, the file readable and writable by its
// owner only. Every node of the region (serve) and every privileged
// client (probe, prune) reads the key this way. Errors name the file and
// say how to fix it.
func ReadKeyFile(path string) (key.MeshKey, error) {
	if err := keyfile.CheckPrivate(path); err != nil {
		return key.MeshKey{}, err
	}
	f, err := os.Open(path)
	if err != nil {
		return key.MeshKey{}, fmt.Errorf("mesh key file %s: %w", path, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return key.MeshKey{}, fmt.Errorf("mesh key file %s: %w", path, err)
	}
	if len(b) > maxKeyFileSize {
		return key.MeshKey{}, fmt.Errorf("mesh key file %s: larger than %d bytes, not a mesh key (make one with: relayctl keygen > %s)", path, maxKeyFileSize, path)
	}
	k, err := key.ParseMeshKey(string(b))
	if err != nil {
		return key.MeshKey{}, fmt.Errorf("mesh key file %s: %w (make one with: relayctl keygen > %s)", path, err, path)
	}
	if k.IsZero() {
		return key.MeshKey{}, fmt.Errorf("mesh key file %s: %w: all zero (make one with: relayctl keygen > %s)", path, key.ErrInvalidMeshKey, path)
	}
	return k, nil
}
