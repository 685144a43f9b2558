package node

import (
	"os"
	"testing"

	"github.com/relayctl/relayctl/config"
)

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
