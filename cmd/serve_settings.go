package cmd

import (
	"os"
	"path/filepath"

	"github.com/spf13/pflag"

	"github.com/relayctl/relayctl/config"
	"github.com/relayctl/relayctl/internal/statedir"
	"github.com/relayctl/relayctl/relay/node"
)

// sources gathers where serve's settings come from for this run: the
// config file and fleet policy named by flag or environment (or the
// defaults), the environment, and the command line.
func (f *serveFlags) sources(cmdFlags *pflag.FlagSet) (config.Sources, *config.PolicyFetcher) {
	file, explicit := f.ConfigFile, cmdFlags.Changed(config.FileFlag)
	if !explicit {
		if v, ok := os.LookupEnv(config.EnvName(config.FileFlag)); ok {
			file, explicit = v, true
		} else if dir, err := statedir.Config(); err == nil {
			file = config.DefaultFile(dir)
		}
	}
	policies := f.Policies
	if !cmdFlags.Changed(config.PolicyFlag) {
		if v, ok := os.LookupEnv(config.EnvName(config.PolicyFlag)); ok {
			policies = []string{v}
		}
	}
	fetcher := config.NewPolicyFetcher(config.FetchOptions{CacheDir: policyCacheDir()})
	return config.Sources{
		File:         file,
		FileExplicit: explicit,
		Policies:     config.PolicySourcesOrDefault(policies),
		Env:          os.LookupEnv,
		Environ:      os.Environ(),
		Flags:        config.CommandLine(cmdFlags, node.Spec()),
		Fetch:        fetcher.Fetch,
	}, fetcher
}

// policyCacheDir keeps the last good copy of each fleet policy URL, so a
// relay restarted while its policy server is down starts on the rules it
// last had ("" when there is no state directory: no saved copies).
func policyCacheDir() string {
	dir, err := statedir.State()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "policy-cache")
}

// DocSection is a generated part of a hand-written document; see
// internal/gendocs.Section.
type DocSection struct{ File, Name, Body string }

// DocSections are the parts of docs/ generated from the code.
func DocSections() []DocSection {
	return []DocSection{
		{File: "docs/configuration.md", Name: "live settings", Body: node.LiveSettingsTable()},
		{File: "docs/configuration.md", Name: "local settings", Body: node.LocalSettingsList()},
	}
}
