package cmd

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/relayctl/relayctl/internal/derpmap"
)

type derpmapDiffOptions struct {
	Old, New string

	streams IOStreams
}

func newDERPMapDiffCmd(streams IOStreams) *cobra.Command {
	o := &derpmapDiffOptions{streams: streams}
	c := &cobra.Command{
		Use:   "diff OLD NEW",
		Short: "Show what replacing one DERP map with another does to clients, region by region",
		Long: `Compare two DERP maps, each an inventory, Tailscale's DERPMap JSON, a Tailscale
policy file or headscale's DERP YAML, and list per region what clients notice:
regions added or removed (clients homed on a removed region move), nodes added,
removed or moved, certificate trust and pins changed, host names, addresses and
ports changed, and a new first node. Nothing is printed but "no changes" when
the maps are the same to clients.`,
		Example: `  relayctl derpmap diff policy.hujson fleet.yaml   # before 'derpmap apply'
  git show HEAD~1:fleet.yaml > /tmp/old.yaml && relayctl derpmap diff /tmp/old.yaml fleet.yaml`,
		Args: cobra.ExactArgs(2),
		RunE: func(_ *cobra.Command, args []string) error {
			o.Old, o.New = args[0], args[1]
			return runDERPMapDiff(o)
		},
	}
	return c
}

func runDERPMapDiff(o *derpmapDiffOptions) error {
	old, err := readAnyDERPMap(o.streams, o.Old)
	if err != nil {
		return err
	}
	new, err := readAnyDERPMap(o.streams, o.New)
	if err != nil {
		return err
	}
	writeMapChange(o.streams.Out, derpmap.Diff(old, new))
	return nil
}

// readAnyDERPMap reads a map file in any format derpmap.Decode knows.
func readAnyDERPMap(streams IOStreams, path string) (*derpmap.DERPMap, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, usageErrorf("%v", err)
	}
	d, err := derpmap.Decode(path, b)
	if err != nil {
		return nil, usageErrorf("%s: %v", path, err)
	}
	for _, w := range d.Warnings {
		fmt.Fprintf(streams.ErrOut, "warning: %s\n", w)
	}
	return d.Map, nil
}

func writeMapChange(w io.Writer, c derpmap.MapChange) {
	if c.Empty() {
		fmt.Fprintln(w, "no changes")
		return
	}
	for _, e := range c.Effects {
		fmt.Fprintln(w, e)
	}
	for _, r := range c.Regions {
		fmt.Fprintf(w, "region %s: %s\n", r.Label, r.Kind)
		for _, e := range r.Effects {
			fmt.Fprintf(w, "  %s\n", e)
		}
	}
}
