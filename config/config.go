// Package config merges relayctl's setting sources into the command's
// flags: built-in defaults < config file < environment (RELAYCTL_*) <
// command-line flags. It knows flags and files, nothing of DERP. (Fleet
// policy, the enforced top layer, comes in a later change.)
package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// EnvPrefix starts every environment variable: --mesh-psk-file is
// RELAYCTL_MESH_PSK_FILE.
const EnvPrefix = "RELAYCTL"

// EnvName is the environment variable for a flag.
func EnvName(flag string) string {
	return EnvPrefix + "_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// Source says where a setting's value came from.
type Source string

const (
	SourceDefault Source = "default"
	SourceFile    Source = "file"
	SourceEnv     Source = "env"
	SourceFlag    Source = "flag"
)

// Applied records the source of each flag after Apply.
type Applied map[string]Source

// Apply fills every flag of fs that was not set on the command line from
// the environment or, failing that, the config file. configPath is the
// --config value; explicit means the user named it (then it must exist).
// skip lists flags that never come from files or env (like --config).
func Apply(fs *pflag.FlagSet, configPath string, explicit bool, skip ...string) (Applied, error) {
	v := viper.New()
	if configPath != "" {
		v.SetConfigFile(configPath)
		if err := v.ReadInConfig(); err != nil {
			var notFound viper.ConfigFileNotFoundError
			switch {
			case !explicit && (errors.As(err, &notFound) || errors.Is(err, fs_ErrNotExist)):
				// The default file is optional.
			default:
				return nil, fmt.Errorf("config file %s: %w", configPath, err)
			}
		}
	}
	known := map[string]bool{}
	fs.VisitAll(func(f *pflag.Flag) { known[f.Name] = true })
	for _, k := range v.AllKeys() {
		if !known[k] || contains(skip, k) {
			return nil, fmt.Errorf("config file %s: unknown setting %q", configPath, k)
		}
	}

	applied := Applied{}
	var errs []error
	fs.VisitAll(func(f *pflag.Flag) {
		if contains(skip, f.Name) {
			return
		}
		if f.Changed {
			applied[f.Name] = SourceFlag
			return
		}
		if val, ok := os.LookupEnv(EnvName(f.Name)); ok {
			if err := f.Value.Set(val); err != nil {
				errs = append(errs, fmt.Errorf("environment %s=%q: %w", EnvName(f.Name), val, err))
			}
			applied[f.Name] = SourceEnv
			return
		}
		if v.IsSet(f.Name) {
			for _, s := range valueStrings(v.Get(f.Name)) {
				if err := f.Value.Set(s); err != nil {
					errs = append(errs, fmt.Errorf("config file %s: %s: %w", configPath, f.Name, err))
				}
			}
			applied[f.Name] = SourceFile
			return
		}
		applied[f.Name] = SourceDefault
	})
	return applied, errors.Join(errs...)
}

var fs_ErrNotExist = fs.ErrNotExist

// valueStrings turns a file value into the strings a flag's Set takes:
// lists become one Set call per element, so `mesh-with: [a, b]` works for
// slice flags.
func valueStrings(v any) []string {
	switch t := v.(type) {
	case []any:
		out := make([]string, 0, len(t))
		for _, e := range t {
			out = append(out, fmt.Sprint(e))
		}
		return out
	case []string:
		return t
	}
	return []string{fmt.Sprint(v)}
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// DefaultFile is <config dir>/relayctl.yaml.
func DefaultFile(configDir string) string { return filepath.Join(configDir, "relayctl.yaml") }
