package cmd

import (
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/relayctl/relayctl/internal/derpmap"
)

type derpmapBuildOptions struct {
	Inventory          string
	Format             string
	OmitDefaultRegions bool

	streams IOStreams
}

func newDERPMapBuildCmd(streams IOStreams) *cobra.Command {
	o := &derpmapBuildOptions{streams: streams}
	c := &cobra.Command{
		Use:   "build INVENTORY [--format json|tailscale-policy|headscale]",
		Short: "Print the inventory's DERP map as JSON, a policy-file block or headscale YAML",
		Long: `Validate the inventory and print its DERP map to stdout:
  json              Tailscale's DERPMap JSON, what clients, derpprobe and
                    'relayctl probe --derp-map' read;
  tailscale-policy  the "derpMap": {...} member to paste into a Tailscale policy
                    file (--omit-default-regions to use only these regions);
  headscale         the YAML file headscale's derp.paths setting reads.
Every pin must be filled in ('relayctl derpmap pin' does it).`,
		Example: `  relayctl derpmap build fleet.yaml > derpmap.json
  relayctl derpmap build fleet.yaml --format tailscale-policy --omit-default-regions
  relayctl derpmap build fleet.yaml --format headscale > /etc/headscale/derp.yaml`,
		Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			o.Inventory = args[0]
			if !slices.Contains(derpmap.Formats, o.Format) {
				return usageErrorf("--format %q: want %s", o.Format, strings.Join(derpmap.Formats, ", "))
			}
			if o.OmitDefaultRegions && o.Format != derpmap.FormatTailscalePolicy {
				return usageErrorf("--omit-default-regions is for --format %s (headscale and clients take the regions as given)", derpmap.FormatTailscalePolicy)
			}
			return runDERPMapBuild(o)
		},
	}
	c.Flags().StringVar(&o.Format, "format", derpmap.FormatJSON, "output format: "+strings.Join(derpmap.Formats, ", "))
	c.Flags().BoolVar(&o.OmitDefaultRegions, "omit-default-regions", false, "policy format: set OmitDefaultRegions, so the tailnet uses only these regions")
	c.RegisterFlagCompletionFunc("format", fixedValues(derpmap.Formats...))
	return c
}

func runDERPMapBuild(o *derpmapBuildOptions) error {
	m, err := inventoryMap(o.streams, o.Inventory)
	if err != nil {
		return err
	}
	if o.OmitDefaultRegions {
		m = derpmap.WithOmitDefaultRegions(m)
	}
	out, err := derpmap.RenderFormat(m, o.Format)
	if err != nil {
		return err
	}
	_, err = o.streams.Out.Write(out)
	return err
}
