package config

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
)

// Sources are the inputs of a resolution. The command line and the
// environment are fixed for a process; the file and the policy are
// re-read on every resolution.
type Sources struct {
	// File is the config file; FileExplicit means the user named it, so
	// it must exist.
	File         string
	FileExplicit bool
	// Policies are fleet policy sources: directories of policy files,
	// single files, or https:// URLs.
	Policies []string
	// Env looks up environment variables (os.LookupEnv).
	Env func(string) (string, bool)
	// Flags are the values given on the command line, by setting name.
	Flags map[string][]string
	// Fetch reads a policy URL (nil: URLs are an error). The watcher
	// provides one that caches by ETag.
	Fetch func(url string) ([]byte, error)
	// Environ is the whole environment (os.Environ), to find RELAYCTL_*
	// variables that name no setting; nil skips the check.
	Environ []string
}

// Entry is one setting of the resultant set.
type Entry struct {
	Name   string `json:"name"`
	Value  string `json:"value"`
	Source Source `json:"source"`
	// Origin names the file, variable or policy document.
	Origin string `json:"origin,omitempty"`
	// Overridden is set when fleet policy replaced a value that a lower
	// source (file, env, flag) asked for: that source's value.
	Overridden     string `json:"overridden,omitempty"`
	Live           bool   `json:"live"`
	PendingRestart bool   `json:"pending_restart"`
	Description    string `json:"description"`
	secret         bool
}

// Result is a resultant set of settings.
type Result struct {
	Entries []Entry
	// Flags holds every resolved value, typed, for the command to read.
	Flags *pflag.FlagSet
	// Policy is the merged fleet policy (access rules included).
	Policy *Policy
	// Warnings are problems that do not stop a relay: RELAYCTL_*
	// variables that name no setting (the environment is shared with
	// other programs, so they are not an error).
	Warnings []string
}

// Lookup returns the entry for name.
func (r *Result) Lookup(name string) (Entry, bool) {
	i := slices.IndexFunc(r.Entries, func(e Entry) bool { return e.Name == name })
	if i < 0 {
		return Entry{}, false
	}
	return r.Entries[i], true
}

// Shown is the entry as config show prints it: secrets redacted.
func (e Entry) Shown() Entry {
	if e.secret && e.Value != "" {
		e.Value = Redacted
		if e.Overridden != "" {
			e.Overridden = Redacted
		}
	}
	return e
}

// ApplyTo copies every non-default value of r into fs (a command's own
// flag set, built by the same Spec).
func (r *Result) ApplyTo(fs *pflag.FlagSet) error {
	var errs []error
	for _, e := range r.Entries {
		if e.Source == SourceDefault {
			continue
		}
		f := fs.Lookup(e.Name)
		src := r.Flags.Lookup(e.Name)
		if f == nil || src == nil {
			continue
		}
		if err := setLike(f, flagValues(src)); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", e.Name, err))
		}
	}
	return errors.Join(errs...)
}

// layerValue is one source's value for one setting.
type layerValue struct {
	values []string
	origin string
}

// Resolve computes the resultant set. An error names the source, setting
// and value at fault.
func Resolve(spec Spec, src Sources) (*Result, error) {
	fs := spec.NewFlags()
	r := &resolution{spec: spec, fs: fs, known: map[string]bool{}, sources: map[string]Entry{}}
	fs.VisitAll(func(f *pflag.Flag) {
		if spec.isSetting(f.Name) {
			r.known[f.Name] = true
		}
	})
	if err := r.lowerLayers(src); err != nil {
		return nil, err
	}
	if err := applyOverlays(spec, fs, r.known, r.set); err != nil {
		return nil, err
	}
	if err := r.joined(); err != nil {
		return nil, err
	}
	// Policy scopes are chosen by this node's identity, which only the
	// lower layers may set.
	region, node := spec.nodeIdentity(fs)
	policy, err := loadPolicy(src, region, node)
	if err != nil {
		return nil, err
	}
	if err := r.policyLayer(policy); err != nil {
		return nil, err
	}
	res := &Result{Flags: fs, Policy: policy, Entries: r.entries(), Warnings: unknownEnv(src.Environ, r.known, spec.NotSettings)}
	if spec.Check != nil {
		if err := spec.Check(res); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// resolution is a resolution under way: fs holds the values so far,
// sources where each came from.
type resolution struct {
	spec    Spec
	fs      *pflag.FlagSet
	known   map[string]bool
	sources map[string]Entry
	errs    []error
}

// set gives name the value v from source s; a bad value is kept as an
// error, so that every bad value is reported at once.
func (r *resolution) set(name string, v layerValue, s Source) {
	f := r.fs.Lookup(name)
	if err := setLike(f, v.values); err != nil {
		r.errs = append(r.errs, fmt.Errorf("%s: %w", spell(name, strings.Join(v.values, ","), s, v.origin), typeError(f, err)))
		return
	}
	e := r.sources[name]
	e.Source, e.Origin = s, v.origin
	r.sources[name] = e
}

func (r *resolution) joined() error { return errors.Join(r.errs...) }

// lowerLayers applies the config file, the environment and the command
// line, in that order.
func (r *resolution) lowerLayers(src Sources) error {
	file, err := readConfigFile(src.File, src.FileExplicit)
	if err != nil {
		return err
	}
	for k := range file {
		if !r.known[k] {
			return fmt.Errorf("config file %s: unknown setting %q%s", src.File, k, suggest(k, r.known))
		}
	}
	r.fs.VisitAll(func(f *pflag.Flag) {
		if !r.known[f.Name] {
			return
		}
		r.sources[f.Name] = Entry{Source: SourceDefault}
		if v, ok := file[f.Name]; ok {
			r.set(f.Name, v, SourceFile)
		}
		if src.Env != nil {
			if v, ok := src.Env(EnvName(f.Name)); ok {
				r.set(f.Name, layerValue{values: []string{v}, origin: EnvName(f.Name)}, SourceEnv)
			}
		}
		if v, ok := src.Flags[f.Name]; ok {
			r.set(f.Name, layerValue{values: v, origin: "--" + f.Name}, SourceFlag)
		}
	})
	return r.joined()
}

// policyLayer applies fleet policy's settings over everything else,
// noting what a lower source had asked for.
func (r *resolution) policyLayer(policy *Policy) error {
	for name, v := range policy.Settings {
		if !r.known[name] {
			return fmt.Errorf("fleet policy %s: unknown setting %q%s", v.origin, name, suggest(name, r.known))
		}
		if r.spec.Meta[name].Local {
			return fmt.Errorf("fleet policy %s: %q describes the node itself and cannot be set by policy", v.origin, name)
		}
		var overridden string
		if r.sources[name].Source != SourceDefault {
			overridden = r.fs.Lookup(name).Value.String()
		}
		r.set(name, v, SourcePolicy)
		if overridden != "" && overridden != r.fs.Lookup(name).Value.String() {
			e := r.sources[name]
			e.Overridden = overridden
			r.sources[name] = e
		}
	}
	return r.joined()
}

// entries lists every setting's resultant value, by name.
func (r *resolution) entries() []Entry {
	var out []Entry
	r.fs.VisitAll(func(f *pflag.Flag) {
		if !r.known[f.Name] {
			return
		}
		e := r.sources[f.Name]
		e.Name = f.Name
		e.Value = displayValue(f)
		e.Description = f.Usage
		e.Live = r.spec.Meta[f.Name].Live
		e.secret = r.spec.Meta[f.Name].Secret
		out = append(out, e)
	})
	slices.SortFunc(out, func(a, b Entry) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// spell writes a setting the way its source holds it, so an error points
// at the line to fix: --stun-port 99999, relayctl.yaml: stun-port: 99999,
// RELAYCTL_STUN_PORT="abc", fleet policy p.yaml: stun-port: 99999.
func spell(name, value string, s Source, origin string) string {
	switch s {
	case SourceFile:
		return fmt.Sprintf("%s: %s: %s", origin, name, quoteIfNeeded(value))
	case SourceEnv:
		return fmt.Sprintf("%s=%q", EnvName(name), value)
	case SourcePolicy:
		return fmt.Sprintf("fleet policy %s: %s: %s", origin, name, quoteIfNeeded(value))
	case SourceDefault:
		return fmt.Sprintf("--%s %s (the default)", name, quoteIfNeeded(value))
	case SourceFlag, "":
		return fmt.Sprintf("--%s %s", name, quoteIfNeeded(value))
	}
	// An overlay file (derper's --rate-config): its setting and path.
	return fmt.Sprintf("%s %s: %s: %s", s, origin, name, quoteIfNeeded(value))
}

// typeError says what a setting's type wants instead of a parser's
// message (strconv.ParseInt: parsing "abc": invalid syntax).
func typeError(f *pflag.Flag, err error) error {
	switch f.Value.Type() {
	case "int", "int64", "uint", "uint16", "uint64":
		return fmt.Errorf("want a whole number")
	case "float64":
		return fmt.Errorf("want a number")
	case "bool":
		return fmt.Errorf("want true or false")
	case "duration":
		return fmt.Errorf("want a duration such as 30s or 5m")
	}
	return err
}

// quoteIfNeeded quotes values that would not read back as one word.
func quoteIfNeeded(v string) string {
	if v == "" || strings.ContainsAny(v, " \t\n\"'#") {
		return strconv.Quote(v)
	}
	return v
}

// Spelled writes the entry as its source holds it (secrets redacted),
// for errors about its value: "relayctl.yaml: stun-port: 99999".
func (e Entry) Spelled() string {
	s := e.Shown()
	return spell(s.Name, s.Value, s.Source, s.Origin)
}

// Spelled is the named setting as its source holds it; see Entry.Spelled.
func (r *Result) Spelled(name string) string {
	if e, ok := r.Lookup(name); ok {
		return e.Spelled()
	}
	return "--" + name
}

// unknownEnv lists RELAYCTL_* variables that name no setting, with the
// nearest one that does.
func unknownEnv(environ []string, known map[string]bool, notSettings []string) []string {
	names := map[string]bool{}
	for k := range known {
		names[EnvName(k)] = true
	}
	for _, n := range notSettings {
		names[EnvName(n)] = true
	}
	var out []string
	for _, kv := range environ {
		k, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(k, EnvPrefix+"_") || names[k] {
			continue
		}
		out = append(out, fmt.Sprintf("environment: %s is not a setting%s; ignored", k, suggest(k, names)))
	}
	slices.Sort(out)
	return out
}

// nodeIdentity reads the settings that select policy scopes.
func (s Spec) nodeIdentity(fs *pflag.FlagSet) (region, node string) {
	if f := fs.Lookup(s.RegionSetting); f != nil {
		region = f.Value.String()
	}
	if f := fs.Lookup(s.NodeSetting); f != nil {
		node = f.Value.String()
	}
	return region, node
}

// setLike replaces f's value with values, the way the command line would
// set it: a list setting takes all of them, others the single value.
func setLike(f *pflag.Flag, values []string) error {
	if sv, ok := f.Value.(pflag.SliceValue); ok {
		var all []string
		for _, v := range values {
			for _, p := range strings.Split(v, ",") {
				if p = strings.TrimSpace(p); p != "" {
					all = append(all, p)
				}
			}
		}
		return sv.Replace(all)
	}
	if len(values) != 1 {
		return fmt.Errorf("takes one value, got %d", len(values))
	}
	return f.Value.Set(values[0])
}

func flagValues(f *pflag.Flag) []string {
	if sv, ok := f.Value.(pflag.SliceValue); ok {
		return sv.GetSlice()
	}
	return []string{f.Value.String()}
}

func displayValue(f *pflag.Flag) string {
	if sv, ok := f.Value.(pflag.SliceValue); ok {
		return strings.Join(sv.GetSlice(), ",")
	}
	return f.Value.String()
}

// CommandLine collects the settings given on a command line.
func CommandLine(fs *pflag.FlagSet, spec Spec) map[string][]string {
	out := map[string][]string{}
	fs.Visit(func(f *pflag.Flag) {
		if spec.isSetting(f.Name) {
			out[f.Name] = flagValues(f)
		}
	})
	return out
}

// suggest offers the nearest known name for a typo.
func suggest(name string, known map[string]bool) string {
	best, bestD := "", 4
	for k := range known {
		if d := editDistance(name, k); d < bestD {
			best, bestD = k, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
