package cmd

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/relayctl/relayctl/internal/atomicfile"
	"github.com/relayctl/relayctl/internal/derpmap"
)

type derpmapApplyOptions struct {
	Inventory          string
	PolicyFile         string
	OmitDefaultRegions bool

	streams IOStreams
}

func newDERPMapApplyCmd(streams IOStreams) *cobra.Command {
	o := &derpmapApplyOptions{streams: streams}
	c := &cobra.Command{
		Use:   "apply INVENTORY --policy-file FILE",
		Short: "Replace the derpMap section of a Tailscale policy file, keeping every other byte",
		Long: `Write the inventory's DERP map into a Tailscale policy file (HuJSON) as its
"derpMap" member, in place. Only the member's value changes: comments, order,
indentation and every other byte of the file stay as they were. A file without a
derpMap gets one at the end. An existing derpMap that omits Tailscale's regions
(omitDefaultRegions) keeps doing so; --omit-default-regions sets it.`,
		Example: `  relayctl derpmap apply fleet.yaml --policy-file policy.hujson
  git diff policy.hujson`,
		Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			o.Inventory = args[0]
			if o.PolicyFile == "" {
				return usageErrorf("--policy-file is required: the Tailscale policy file to update")
			}
			return runDERPMapApply(o)
		},
	}
	c.Flags().StringVar(&o.PolicyFile, "policy-file", "", "the Tailscale policy file (HuJSON) to update in place (required)")
	c.Flags().BoolVar(&o.OmitDefaultRegions, "omit-default-regions", false, "set omitDefaultRegions, so the tailnet uses only these regions")
	return c
}

func runDERPMapApply(o *derpmapApplyOptions) error {
	m, err := inventoryMap(o.streams, o.Inventory)
	if err != nil {
		return err
	}
	if o.OmitDefaultRegions {
		m = derpmap.WithOmitDefaultRegions(m)
	}
	old, err := os.ReadFile(o.PolicyFile)
	if err != nil {
		return usageErrorf("--policy-file: %v", err)
	}
	res, err := derpmap.ApplyToPolicy(old, m)
	if err != nil {
		return usageErrorf("--policy-file %s: %v", o.PolicyFile, err)
	}
	if string(res.Policy) == string(old) {
		fmt.Fprintf(o.streams.ErrOut, "%s: derpMap already up to date\n", o.PolicyFile)
		return nil
	}
	if err := replaceFile(o.PolicyFile, res.Policy); err != nil {
		return err
	}
	verb := "replaced the derpMap of"
	if res.Added {
		verb = "added a derpMap to"
	}
	nodes := 0
	for _, r := range m.Regions {
		nodes += len(r.Nodes)
	}
	fmt.Fprintf(o.streams.ErrOut, "%s %s: %d regions, %d nodes\n", verb, o.PolicyFile, len(m.Regions), nodes)
	if res.KeptOmitDefaultRegions {
		fmt.Fprintf(o.streams.ErrOut, "kept omitDefaultRegions: the tailnet still uses only these regions\n")
	}
	return nil
}

// replaceFile rewrites path in place, keeping its permissions.
func replaceFile(path string, b []byte) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	return atomicfile.Write(path, b, fi.Mode().Perm())
}
