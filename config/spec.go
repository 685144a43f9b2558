// Package config merges relayctl's setting sources into one resultant set:
// built-in defaults < config file < environment (RELAYCTL_*) < command-line
// flags < overlay files (--rate-config) < fleet policy (enforced: no lower
// source can override it). It knows settings, sources and files, nothing
// of DERP.
//
// A Spec describes the settings: a flag set built from their declarations
// (relay/node declares a relay's, each once, with its type, default and
// description) and Meta for what a flag cannot say (live, secret, local).
// The file key, policy key and environment name all derive from the flag
// name, so flags, files, environment and docs cannot drift apart.
package config

import (
	"strings"

	"github.com/spf13/pflag"
)

// EnvPrefix starts every environment variable: --mesh-psk-file is
// RELAYCTL_MESH_PSK_FILE.
const EnvPrefix = "RELAYCTL"

// EnvName is the environment variable for a setting.
func EnvName(name string) string {
	return EnvPrefix + "_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// FileFlag and PolicyFlag are the flags (and RELAYCTL_ variables) that
// name the config file and the fleet policy sources: they select sources
// rather than being settings.
const (
	FileFlag   = "config"
	PolicyFlag = "policy"
)

// Source says where a setting's value came from.
type Source string

const (
	SourceDefault Source = "default"
	SourceFile    Source = "file"
	SourceEnv     Source = "env"
	SourceFlag    Source = "flag"
	SourcePolicy  Source = "policy"
)

// Meta is what a flag definition cannot say about a setting.
type Meta struct {
	// Live settings are applied to a running relay; the others wait for
	// a restart and are reported as pending.
	Live bool
	// Secret values are shown as "<redacted>".
	Secret bool
	// Local settings describe the node itself (its identity, where its
	// files are); fleet policy may not set them.
	Local bool
}

// Spec describes a command's settings.
type Spec struct {
	// NewFlags returns a fresh flag set with every setting at its default.
	NewFlags func() *pflag.FlagSet
	// Meta by setting name; absent means restart-only, not secret.
	Meta map[string]Meta
	// NotSettings are flags that select sources rather than being
	// settings (FileFlag, PolicyFlag).
	NotSettings []string
	// RegionSetting and NodeSetting name the settings that say which
	// fleet policy scopes apply to this node (region-…, node-… files).
	RegionSetting, NodeSetting string
	// Overlays are files named by a setting that set other settings.
	Overlays []Overlay
	// Check, when set, rejects a resultant set whose values their
	// settings do not take (a port out of range), at start and on every
	// recomputation: a bad edit leaves the last good set in force.
	Check func(*Result) error
}

func (s Spec) isSetting(name string) bool {
	for _, n := range s.NotSettings {
		if n == name {
			return false
		}
	}
	return true
}

// Redacted is how a secret value is shown.
const Redacted = "<redacted>"
