package cmd

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/relayctl/relayctl/internal/derperflags"
)

// singleDashHint explains why a single-dash long flag (derper's style,
// -hostname) failed: pflag reads it as a run of one-letter flags and
// reports a confusing "unknown shorthand flag: 'o' in -ostname". It
// returns nil when args hold no such flag.
func singleDashHint(root *cobra.Command, args []string) error {
	c, _, err := root.Find(args)
	if err != nil || c == nil {
		c = root
	}
	for _, tok := range args {
		if tok == "--" {
			break
		}
		if !strings.HasPrefix(tok, "-") || strings.HasPrefix(tok, "--") || len(tok) < 2 {
			continue
		}
		name, _, _ := strings.Cut(tok[1:], "=")
		if len(name) == 1 && c.Flags().ShorthandLookup(name) != nil {
			continue // a real one-letter flag (-h)
		}
		if hint := hintFor(c, name); hint != "" {
			return usageErrorf("%s", hint)
		}
	}
	return nil
}

const fromDerperHint = "to convert a whole derper command line: relayctl config from-derper -- DERPER-ARGS"

func hintFor(c *cobra.Command, name string) string {
	df, isDerper := derperflags.Lookup(name)
	if f := c.Flags().Lookup(name); f != nil && len(name) > 1 {
		hint := fmt.Sprintf("relayctl flags take two dashes: did you mean --%s?", name)
		if isDerper && df.Setting != name {
			return hint + " (" + fromDerperHint + ")"
		}
		return hint + fmt.Sprintf(" (see '%s --help')", c.CommandPath())
	}
	if !isDerper {
		return ""
	}
	switch {
	case df.Name == "version":
		return "-version is derper's flag: relayctl's is the command `relayctl version`"
	case !df.Carried():
		return fmt.Sprintf("-%s is derper's flag, which relayctl does not carry (see docs/migrating-from-derper.md)", df.Name)
	case c.Flags().Lookup(df.Setting) != nil:
		return fmt.Sprintf("-%s is derper's flag: relayctl's is --%s (%s)", df.Name, df.Setting, fromDerperHint)
	}
	return fmt.Sprintf("-%s is derper's flag: relayctl serve's is --%s (%s)", df.Name, df.Setting, fromDerperHint)
}
