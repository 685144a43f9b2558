package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/viper"
)

// DefaultFile is <config dir>/relayctl.yaml.
func DefaultFile(configDir string) string { return filepath.Join(configDir, "relayctl.yaml") }

// readConfigFile reads a YAML, TOML or JSON config file (by extension) into
// setting values. A missing file is an error only when explicit.
func readConfigFile(path string, explicit bool) (map[string]layerValue, error) {
	if path == "" {
		return nil, nil
	}
	// A URL would otherwise fail as "open https://…: no such file".
	if strings.HasPrefix(path, "https://") || strings.HasPrefix(path, "http://") {
		return nil, fmt.Errorf("config file %s: a URL; the config file is a local file (settings from a URL: --%s https://…)", path, PolicyFlag)
	}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) && !explicit {
		return nil, nil
	}
	m, err := readSettingsDoc(path)
	if err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	out := map[string]layerValue{}
	for k, v := range m {
		out[k] = layerValue{values: valueStrings(v), origin: path}
	}
	return out, nil
}

// readSettingsDoc reads a whole YAML/TOML/JSON document as a map.
func readSettingsDoc(path string) (map[string]any, error) {
	v := viper.New()
	v.SetConfigFile(path)
	ext := strings.TrimPrefix(filepath.Ext(path), ".")
	if ext == "yml" {
		ext = "yaml"
	}
	switch ext {
	case "yaml", "json", "toml":
		v.SetConfigType(ext)
	default:
		return nil, fmt.Errorf("unknown format %q: use .yaml, .yml, .toml or .json", filepath.Ext(path))
	}
	if err := v.ReadInConfig(); err != nil {
		return nil, err
	}
	return v.AllSettings(), nil
}

// valueStrings turns a document value into the strings a flag takes: a
// list gives one string per element.
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
	case nil:
		return []string{""}
	}
	return []string{fmt.Sprint(v)}
}
