package node

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/relayctl/relayctl/config"
)

// isolate points config and state lookups at a temp dir and clears the
// RELAYCTL_ variables of the environment.
func isolate(t *testing.T) string {
	dir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "config"))
	t.Setenv("XDG_STATE_HOME", filepath.Join(dir, "state"))
	t.Setenv("STATE_DIRECTORY", "")
	for _, e := range os.Environ() {
		if k, _, _ := strings.Cut(e, "="); strings.HasPrefix(k, config.EnvPrefix+"_") {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
	return dir
}

// sourcesFor are the setting sources of a node given args on its command
// line, the process environment and, when file is set, that config file.
func sourcesFor(t *testing.T, file string, args ...string) config.Sources {
	t.Helper()
	fs := bindFlags(new(Config))
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return config.Sources{
		File:         file,
		FileExplicit: file != "",
		Env:          os.LookupEnv,
		Environ:      os.Environ(),
		Flags:        config.CommandLine(fs, Spec()),
	}
}

// newFromArgs resolves and checks a node as serve would for args.
func newFromArgs(t *testing.T, args ...string) (*Node, error) {
	t.Helper()
	src := sourcesFor(t, "", args...)
	cfg, res, err := Resolve(src)
	if err != nil {
		return nil, err
	}
	return New(cfg, Options{Resolved: res, Sources: &src})
}
