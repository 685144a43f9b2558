package cmd

import (
	"os"

	"github.com/spf13/pflag"

	"github.com/relayctl/relayctl/config"
	"github.com/relayctl/relayctl/internal/statedir"
)

// serveSettingMeta says which serve settings a running relay applies
// live, which are secret, and which describe the node itself (and so are
// beyond fleet policy). Every other setting needs a restart.
var serveSettingMeta = map[string]config.Meta{
	"log-level":                   {Live: true},
	"per-client-rate-limit":       {Live: true},
	"per-client-rate-burst":       {Live: true},
	"verify-client-url":           {Live: true, Secret: true},
	"verify-client-url-fail-open": {Live: true},
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
		Meta:        serveSettingMeta,
		NotSettings: []string{"config", "policy"},
		Overlays:    []config.Overlay{rateConfigOverlay()},
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
	return config.Sources{
		File:         file,
		FileExplicit: explicit,
		Policies:     config.PolicySourcesOrDefault(policies),
		Env:          os.LookupEnv,
		Flags:        config.CommandLine(cmdFlags, serveSpec()),
	}
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
