package cmd

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/relayctl/relayctl/relay/key"
)

func newKeygenCmd(streams IOStreams) *cobra.Command {
	var node bool
	c := &cobra.Command{
		Use:   "keygen",
		Short: "Generate a region mesh key (or, with --node, a node key pair)",
		Example: `  # the whole mesh key setup for a region: copy mesh.key to every node
  relayctl keygen > mesh.key && chmod 600 mesh.key

  # a node key pair, for tests and scripts
  relayctl keygen --node`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if node {
				k := key.NewNode()
				fmt.Fprintln(streams.Out, k.String())
				fmt.Fprintln(streams.Out, k.Public().String())
				return nil
			}
			fmt.Fprintln(streams.Out, key.NewMesh().Hex())
			return nil
		},
	}
	c.Flags().BoolVar(&node, "node", false, "print a node key pair (privkey:… and nodekey:…) instead of a mesh key")
	return c
}
