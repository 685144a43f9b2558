package cmd

import (
	"github.com/relayctl/relayctl/relay/key"
	"github.com/relayctl/relayctl/relay/mesh"
)

// meshKeyFlag reads --mesh-psk-file (serve, probe, prune); an empty path
// is no key.
func meshKeyFlag(path string) (key.MeshKey, error) {
	if path == "" {
		return key.MeshKey{}, nil
	}
	k, err := mesh.ReadKeyFile(path)
	if err != nil {
		return key.MeshKey{}, usageErrorf("--mesh-psk-file: %v", err)
	}
	return k, nil
}
