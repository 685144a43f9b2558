package cmd

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/pflag"

	"github.com/relayctl/relayctl/config"
	"github.com/relayctl/relayctl/internal/statedir"
)

// serveSettingMeta says which serve settings a running relay applies
// live, which are secret, and which describe the node itself (and so are
// beyond fleet policy). Every other setting needs a restart.
//
// It is the one place that says so: the live-settings table in
// docs/configuration.md is generated from it (DocSections).
var serveSettingMeta = map[string]config.Meta{
	"log-level":                   {Live: true, OnChange: "applied at once"},
	"per-client-rate-limit":       {Live: true, OnChange: "applied at once to connected clients"},
	"per-client-rate-burst":       {Live: true, OnChange: "applied at once to connected clients"},
	"verify-client-url":           {Live: true, Secret: true, OnChange: "used for the next client that connects"},
	"verify-client-url-fail-open": {Live: true, OnChange: "used for the next client that connects"},
	"key-file":                    {Local: true},
	"region-id":                   {Local: true},
	"node-name":                   {Local: true},
	"hostname":                    {Local: true},
	"dev":                         {Local: true},
	"acme-eab-key":                {Secret: true},
}

// serveSpec describes serve's settings for the config package.
func serveSpec() config.Spec {
	return config.Spec{
		NewFlags: func() *pflag.FlagSet {
			fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
			(&serveOptions{}).addFlags(fs)
			return fs
		},
		Meta:          serveSettingMeta,
		NotSettings:   []string{config.FileFlag, config.PolicyFlag},
		RegionSetting: "region-id",
		NodeSetting:   "node-name",
		Overlays:      []config.Overlay{rateConfigOverlay()},
	}
}

// settingSources gathers where serve's settings come from for this run.
func (o *serveOptions) settingSources(cmdFlags *pflag.FlagSet) config.Sources {
	file, explicit := o.ConfigFile, cmdFlags.Changed("config")
	if !explicit {
		if v, ok := os.LookupEnv(config.EnvName("config")); ok {
			file, explicit = v, true
		} else if dir, err := statedir.Config(); err == nil {
			file = config.DefaultFile(dir)
		}
	}
	policies := o.Policies
	if !cmdFlags.Changed("policy") {
		if v, ok := os.LookupEnv(config.EnvName("policy")); ok {
			policies = []string{v}
		}
	}
	o.ConfigFile = file
	o.policyFetcher = config.NewPolicyFetcher(config.FetchOptions{CacheDir: policyCacheDir()})
	return config.Sources{
		File:         file,
		FileExplicit: explicit,
		Policies:     config.PolicySourcesOrDefault(policies),
		Env:          os.LookupEnv,
		Environ:      os.Environ(),
		Flags:        config.CommandLine(cmdFlags, serveSpec()),
		Fetch:        o.policyFetcher.Fetch,
	}
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

// resolveSettings merges every source into o's flags and keeps the
// resultant set for config show and the live watcher.
func (o *serveOptions) resolveSettings(cmdFlags *pflag.FlagSet) error {
	o.sources = o.settingSources(cmdFlags)
	res, err := config.Resolve(serveSpec(), o.sources)
	if err != nil {
		return &UsageError{err}
	}
	if err := res.ApplyTo(cmdFlags); err != nil {
		return &UsageError{err}
	}
	if _, err := accessPolicyFrom(res.Policy); err != nil {
		return &UsageError{err}
	}
	o.resolved = res
	return nil
}

// sourceOf says where a setting's value came from.
func (o *serveOptions) sourceOf(name string) config.Source {
	if o.resolved == nil {
		return config.SourceDefault
	}
	e, _ := o.resolved.Lookup(name)
	return e.Source
}

// DocSection is a generated part of a hand-written document; see
// internal/gendocs.Section.
type DocSection struct{ File, Name, Body string }

// DocSections are the parts of docs/ generated from the code.
func DocSections() []DocSection {
	return []DocSection{{File: "docs/configuration.md", Name: "live settings", Body: liveSettingsTable()}}
}

// liveSettingsTable lists what a running relay applies on a change, from
// serveSettingMeta.
func liveSettingsTable() string {
	var names []string
	for name, m := range serveSettingMeta {
		if m.Live {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	var b strings.Builder
	b.WriteString("| setting | on change |\n|---|---|\n")
	for _, name := range names {
		fmt.Fprintf(&b, "| `%s` | %s |\n", name, serveSettingMeta[name].OnChange)
	}
	b.WriteString("| policy `tags` / `acls` | applied at once (see above) |\n")
	b.WriteString("| everything else | logged as `takes effect at the next restart`, counted in `relayctl_config_pending_restart`, and shown as pending by `config show` |\n")
	return b.String()
}
