package config

import (
	"fmt"
	"maps"
	"slices"

	"github.com/spf13/pflag"
)

// Overlay is a file, named by one setting, whose content sets other
// settings: derper's --rate-config feeding the per-client rate settings.
// Its values sit above the command line and below fleet policy, show with
// their own Source, and are re-read with the other sources (on change and
// on SIGHUP).
type Overlay struct {
	// PathSetting is the setting naming the file ("" or unset: no overlay).
	PathSetting string
	// Source is how the file's values show in config show.
	Source Source
	// Read returns the settings the file sets. An error rejects the whole
	// resolution, so a bad edit leaves the last good settings in force.
	Read func(path string) (map[string]string, error)
}

// path is the overlay's file in fs ("" for none).
func (o Overlay) path(fs *pflag.FlagSet) string {
	if f := fs.Lookup(o.PathSetting); f != nil {
		return f.Value.String()
	}
	return ""
}

// applyOverlays reads each overlay named in fs and sets its values.
func applyOverlays(spec Spec, fs *pflag.FlagSet, known map[string]bool, set func(name string, v layerValue, s Source)) error {
	for _, o := range spec.Overlays {
		path := o.path(fs)
		if path == "" {
			continue
		}
		values, err := o.Read(path)
		if err != nil {
			return fmt.Errorf("%s %s: %w", o.PathSetting, path, err)
		}
		for _, name := range slices.Sorted(maps.Keys(values)) {
			if !known[name] {
				return fmt.Errorf("%s %s: sets unknown setting %q", o.PathSetting, path, name)
			}
			set(name, layerValue{values: []string{values[name]}, origin: path}, o.Source)
		}
	}
	return nil
}

// overlayPaths are the overlay files res reads, for the watcher.
func overlayPaths(spec Spec, res *Result) []string {
	var out []string
	for _, o := range spec.Overlays {
		if p := o.path(res.Flags); p != "" {
			out = append(out, p)
		}
	}
	return out
}
