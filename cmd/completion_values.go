package cmd

import (
	"context"
	"strconv"

	"github.com/relayctl/relayctl/internal/derpmap"
	"github.com/relayctl/relayctl/relay/node"
	"github.com/spf13/cobra"
)

// fixedValues completes a flag from a fixed list.
func fixedValues(values ...string) cobra.CompletionFunc {
	return func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return values, cobra.ShellCompDirectiveNoFileComp
	}
}

// registerValueCompletions offers the known values of enumerated flags
// (as the settings' declarations list them), wherever a command has them.
func registerValueCompletions(c *cobra.Command) {
	for flag, values := range node.Completions() {
		if c.Flags().Lookup(flag) != nil {
			c.RegisterFlagCompletionFunc(flag, fixedValues(values...))
		}
	}
	if c.Flags().Lookup("regions") != nil && c.Flags().Lookup("derp-map") != nil {
		c.RegisterFlagCompletionFunc("regions", completeRegions)
	}
	for _, sub := range c.Commands() {
		registerValueCompletions(sub)
	}
}

// completeRegions offers the region IDs of the --derp-map already typed.
func completeRegions(c *cobra.Command, _ []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
	src, _ := c.Flags().GetString("derp-map")
	if src == "" {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	m, err := derpmap.Load(context.Background(), src, derpmap.DefaultLoadOptions())
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var out []cobra.Completion
	for _, id := range m.RegionIDs() {
		r := m.Regions[id]
		desc := r.RegionCode
		if r.RegionName != "" {
			desc += " " + r.RegionName
		}
		out = append(out, strconv.Itoa(id)+"\t"+desc)
	}
	return out, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
}
