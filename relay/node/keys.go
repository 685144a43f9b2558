package node

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/relayctl/relayctl/internal/derperflags"
	"github.com/relayctl/relayctl/internal/statedir"
	"github.com/relayctl/relayctl/relay/key"
	"github.com/relayctl/relayctl/relay/mesh"
)

// KeyPath is the node's key file: --key-file, a throwaway one with --dev,
// or relay-key.json in the state directory. cleanup removes a throwaway
// key's directory.
func (c *Config) KeyPath() (path string, cleanup func(), err error) {
	if c.KeyFile != "" {
		return c.KeyFile, func() {}, nil
	}
	if c.Dev {
		dir, err := os.MkdirTemp("", "relayctl-dev-")
		if err != nil {
			return "", nil, err
		}
		return filepath.Join(dir, "relay-key.json"), func() { os.RemoveAll(dir) }, nil
	}
	dir, err := statedir.State()
	if err != nil {
		return "", nil, configErrorf("cannot find a state directory for the key file (set --key-file): %v", err)
	}
	return filepath.Join(dir, "relay-key.json"), func() {}, nil
}

// ReadMeshKey reads a mesh key file (--mesh-psk-file), which only its
// owner may read; "" is no key. Errors are *ConfigError.
func ReadMeshKey(path string) (key.MeshKey, error) {
	if path == "" {
		return key.MeshKey{}, nil
	}
	k, err := mesh.ReadKeyFile(path)
	if err != nil {
		return key.MeshKey{}, configErrorf("--mesh-psk-file: %v", err)
	}
	return k, nil
}

// meshKeyFromEnv is derper's environment variable for the mesh key, which
// relayctl reads when no --mesh-psk-file is given (the file wins).
func meshKeyFromEnv() (key.MeshKey, bool, error) {
	v, ok := os.LookupEnv(derperflags.MeshKeyEnv)
	if !ok || v == "" {
		return key.MeshKey{}, false, nil
	}
	k, err := key.ParseMeshKey(v)
	if err != nil {
		return key.MeshKey{}, false, configErrorf("%s: %v (make one with: relayctl keygen)", derperflags.MeshKeyEnv, err)
	}
	return k, true, nil
}

// meshKey reads --mesh-psk-file, or else derper's environment variable;
// from says which one was used ("" for neither: no mesh key).
func (c *Config) meshKey() (k key.MeshKey, from string, err error) {
	if c.MeshPSKFile != "" {
		k, err = ReadMeshKey(c.MeshPSKFile)
		return k, c.MeshPSKFile, err
	}
	k, ok, err := meshKeyFromEnv()
	if err != nil || !ok {
		return key.MeshKey{}, "", err
	}
	return k, derperflags.MeshKeyEnv, nil
}

// hasMeshKeySource reports whether a mesh key is configured by either
// source, for the --mesh-with check.
func (c *Config) hasMeshKeySource() bool {
	if c.MeshPSKFile != "" {
		return true
	}
	v, _ := os.LookupEnv(derperflags.MeshKeyEnv)
	return v != ""
}

// nodeKey loads the node's private key, creating it on first start.
func nodeKey(path string) (priv key.NodePrivate, created bool, err error) {
	priv, created, err = key.LoadOrCreateNodeFile(path)
	if err != nil {
		return key.NodePrivate{}, false, &ConfigError{fmt.Errorf("--key-file: %w", err)}
	}
	return priv, created, nil
}
