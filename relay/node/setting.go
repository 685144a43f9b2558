package node

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/relayctl/relayctl/config"
)

// setting declares one setting of a node: its name, type, default and
// documentation (through define), whether it is secret or describes the
// node itself, how a running node applies a change (live; nil: at the next
// restart) and what values it takes (check). Everything else is derived
// from the declarations: the command-line flags, the RELAYCTL_ variables,
// the config-file and fleet-policy keys (all spelled like the flag), config
// show's descriptions, the live reload dispatch and docs/configuration.md's
// table of live settings.
type setting struct {
	name string
	// define registers the setting as a flag on fs, bound to its field
	// of c, with its default and description.
	define func(fs *pflag.FlagSet, c *Config)
	// value reads the setting's field of c.
	value    func(c *Config) any
	isSecret bool
	isLocal  bool
	live     *liveChange
	// check says what is wrong with the setting's value on its own;
	// settings that only fail in combination are checked in validate.go.
	check func(c *Config) error
	// choices are the values of an enumerated setting, each with an
	// optional tab and description (shell completion offers them).
	choices []string
}

// liveChange is how a running node applies new values of one or more
// settings; settings sharing one are applied together, once per change.
type liveChange struct {
	// onChange says what the node does (the docs' table of live settings).
	onChange string
	apply    func(n *Node, c *Config)
}

// flagType is what a setting's value can be.
type flagType interface {
	string | int | int64 | bool | float64 | time.Duration | []string
}

// declare makes a setting bound to field, a Config field of type T.
func declare[T flagType](name string, field func(*Config) *T, def T, doc string) setting {
	return setting{name: name, value: func(c *Config) any { return *field(c) }, define: func(fs *pflag.FlagSet, c *Config) {
		switch p := any(field(c)).(type) {
		case *string:
			fs.StringVar(p, name, any(def).(string), doc)
		case *int:
			fs.IntVar(p, name, any(def).(int), doc)
		case *int64:
			fs.Int64Var(p, name, any(def).(int64), doc)
		case *bool:
			fs.BoolVar(p, name, any(def).(bool), doc)
		case *float64:
			fs.Float64Var(p, name, any(def).(float64), doc)
		case *time.Duration:
			fs.DurationVar(p, name, any(def).(time.Duration), doc)
		case *[]string:
			fs.StringSliceVar(p, name, any(def).([]string), doc)
		}
	}}
}

// secret values are shown as <redacted> by config show.
func (s setting) secret() setting { s.isSecret = true; return s }

// local settings describe the node itself (its identity, where its files
// are): fleet policy may not set them.
func (s setting) local() setting { s.isLocal = true; return s }

// appliedBy makes the setting live: l applies a change at once.
func (s setting) appliedBy(l *liveChange) setting { s.live = l; return s }

// checkedBy sets the check of the setting's value.
func (s setting) checkedBy(check func(c *Config) error) setting { s.check = check; return s }

// offering sets the values shell completion offers.
func (s setting) offering(choices ...string) setting { s.choices = choices; return s }

// Completions are the values of each enumerated setting, by name, each
// with an optional tab and description, for shell completion.
func Completions() map[string][]string {
	out := map[string][]string{}
	for _, s := range settings {
		if len(s.choices) > 0 {
			out[s.name] = s.choices
		}
	}
	return out
}

// lookupSetting is the declaration of name.
func lookupSetting(name string) (setting, bool) {
	i := slices.IndexFunc(settings, func(s setting) bool { return s.name == name })
	if i < 0 {
		return setting{}, false
	}
	return settings[i], true
}

// BindFlags registers every setting on fs as a flag bound to c's field,
// with its default: how the command line sets a Config.
func BindFlags(fs *pflag.FlagSet, c *Config) {
	for _, s := range settings {
		s.define(fs, c)
	}
}

// bindFlags is a flag set of every setting bound to c (c at its defaults).
func bindFlags(c *Config) *pflag.FlagSet {
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	BindFlags(fs, c)
	return fs
}

// Spec describes the settings for the config package: how it resolves
// them from flags, environment, file, overlays and policy.
func Spec() config.Spec {
	meta := map[string]config.Meta{}
	for _, s := range settings {
		meta[s.name] = config.Meta{Live: s.live != nil, Secret: s.isSecret, Local: s.isLocal}
	}
	return config.Spec{
		NewFlags:      func() *pflag.FlagSet { return bindFlags(new(Config)) },
		Meta:          meta,
		NotSettings:   []string{config.FileFlag, config.PolicyFlag},
		RegionSetting: nameRegionID,
		NodeSetting:   nameNodeName,
		Overlays:      []config.Overlay{rateConfigOverlay()},
		Check: func(res *config.Result) error {
			c, err := configFrom(res)
			if err != nil {
				return err
			}
			return checkSettings(&c, sources{res})
		},
	}
}

// Resolve computes a node's settings from src: the Config and the
// resolution behind it (where each value comes from), which New takes to
// quote a bad value as its source holds it. Errors are *ConfigError.
func Resolve(src config.Sources) (Config, *config.Result, error) {
	res, err := config.Resolve(Spec(), src)
	if err != nil {
		return Config{}, nil, &ConfigError{err}
	}
	c, err := configFrom(res)
	if err != nil {
		return Config{}, nil, err
	}
	if _, err := accessPolicyFrom(res.Policy); err != nil {
		return Config{}, nil, &ConfigError{err}
	}
	return c, res, nil
}

// configFrom reads a resolution into a Config.
func configFrom(res *config.Result) (Config, error) {
	var c Config
	if err := res.ApplyTo(bindFlags(&c)); err != nil {
		return Config{}, &ConfigError{err}
	}
	return c, nil
}

// LiveSettingsTable is docs/configuration.md's table of what a running
// relay applies on a change, from the declarations.
func LiveSettingsTable() string {
	var b strings.Builder
	b.WriteString("| setting | on change |\n|---|---|\n")
	for _, s := range slices.SortedFunc(slices.Values(settings), func(a, b setting) int { return strings.Compare(a.name, b.name) }) {
		if s.live != nil {
			fmt.Fprintf(&b, "| `%s` | %s |\n", s.name, s.live.onChange)
		}
	}
	b.WriteString("| policy `tags` / `acls` | applied at once (see above) |\n")
	b.WriteString("| everything else | logged as `takes effect at the next restart`, counted in `relayctl_config_pending_restart`, and shown as pending by `config show` |\n")
	return b.String()
}

// LocalSettingsList is docs/configuration.md's list of the settings that
// describe the node itself, which fleet policy may not set.
func LocalSettingsList() string {
	var names []string
	for _, s := range settings {
		if s.isLocal {
			names = append(names, "`"+s.name+"`")
		}
	}
	slices.Sort(names)
	return strings.Join(names, ", ") + "\n"
}
