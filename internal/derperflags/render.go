package derperflags

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
)

// ConfigYAML is the conversion as a relayctl config file.
func (c *Conversion) ConfigYAML(source string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# relayctl serve settings converted from derper (%s flags) by relayctl config from-derper\n", DerperVersion)
	if source != "" {
		fmt.Fprintf(&b, "# from: %s\n", oneLine(source))
	}
	for _, s := range c.Settings {
		if s.List {
			quoted := make([]string, len(s.Values))
			for i, v := range s.Values {
				quoted[i] = yamlScalar(v)
			}
			fmt.Fprintf(&b, "%s: [%s]\n", s.Name, strings.Join(quoted, ", "))
			continue
		}
		fmt.Fprintf(&b, "%s: %s\n", s.Name, yamlScalar(s.Values[0]))
	}
	return b.String()
}

var plainScalar = regexp.MustCompile(`^(true|false|-?[0-9]+)$`)

// yamlScalar writes booleans and integers plain and everything else as a
// double-quoted string (JSON's quoting is valid YAML), so no value can be
// misread as another type.
func yamlScalar(v string) string {
	if plainScalar.MatchString(v) {
		return v
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// ServeArgs is the conversion as relayctl serve's flags.
func (c *Conversion) ServeArgs() []string {
	var args []string
	for _, s := range c.Settings {
		args = append(args, "--"+s.Name+"="+strings.Join(s.Values, ","))
	}
	return args
}

// ShellQuote quotes args for a POSIX shell where needed.
func ShellQuote(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if a != "" && strings.Trim(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=:/.,+@%") == "" {
			out[i] = a
		} else {
			out[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
	}
	return strings.Join(out, " ")
}
