package cmd

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/relayctl/relayctl/internal/derpmap"
)

func newDERPMapCmd(streams IOStreams) *cobra.Command {
	c := &cobra.Command{
		Use:   "derpmap",
		Short: "Build, apply, pin and compare the fleet's DERP map from one inventory file",
		Long: `Keep the fleet's DERP map as code: one inventory file (YAML, described in
docs/fleet.md) lists the regions and nodes; derpmap prints it in the format a
control plane reads, writes it into a Tailscale policy file keeping every comment,
fills in and checks certificate pins against the live relays, and shows what a
change does to clients before it is pasted.`,
		Example: `  relayctl derpmap build fleet.yaml --format tailscale-policy --omit-default-regions
  relayctl derpmap pin fleet.yaml
  relayctl derpmap apply fleet.yaml --policy-file policy.hujson
  relayctl derpmap diff old.yaml fleet.yaml`,
		Args: cobra.NoArgs,
	}
	c.AddCommand(
		newDERPMapBuildCmd(streams),
		newDERPMapApplyCmd(streams),
		newDERPMapPinCmd(streams),
		newDERPMapDiffCmd(streams),
	)
	return c
}

// readInventory reads and validates an inventory file, printing its
// warnings; any fault is bad configuration.
func readInventory(streams IOStreams, path string) (*derpmap.Inventory, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, usageErrorf("inventory: %v", err)
	}
	inv, err := derpmap.ParseInventory(path, b)
	if err != nil {
		return nil, usageErrorf("%v", err)
	}
	for _, w := range inv.Warnings {
		fmt.Fprintf(streams.ErrOut, "warning: %s\n", w)
	}
	return inv, nil
}

// inventoryMap is the inventory's complete map: every pin filled in.
func inventoryMap(streams IOStreams, path string) (*derpmap.DERPMap, error) {
	inv, err := readInventory(streams, path)
	if err != nil {
		return nil, err
	}
	m, err := inv.DERPMap()
	if err != nil {
		return nil, usageErrorf("%v", err)
	}
	return m, nil
}
