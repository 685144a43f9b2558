package cmd

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/relayctl/relayctl/internal/derperflags"
)

// migratedConfigFile is where the converted settings are suggested to go:
// the config file serve reads by default when run as root.
const migratedConfigFile = "/etc/relayctl/relayctl.yaml"

func newConfigFromDerperCmd(streams IOStreams) *cobra.Command {
	c := &cobra.Command{
		Use:   "from-derper [--unit FILE] [--] DERPER-ARGS...",
		Short: "Convert a derper command line (or systemd unit) into relayctl settings",
		Long: `Reads a derper command line, or the ExecStart of a systemd unit with --unit, and
prints the equivalent relayctl config file on stdout. On stderr it prints the serve
command to run and every behaviour that will differ from derper. derper's flags are
read exactly as derper reads them (-flag, --flag, -flag=value, -flag value); the
derper program name may lead. An unknown derper flag exits 2.

Every derper ` + derperflags.DerperVersion + ` flag and its relayctl answer are listed in
docs/migrating-from-derper.md.`,
		Example: `  relayctl config from-derper -- -hostname derp.example.com -a :33445 -certmode manual -certdir /etc/derp -verify-clients > relayctl.yaml
  relayctl config from-derper --unit /etc/systemd/system/derper.service > /etc/relayctl/relayctl.yaml`,
		// derper's flags are single-dash; they are parsed here, not by cobra.
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			unit, derperArgs, help, err := splitFromDerperArgs(args)
			if err != nil {
				return err
			}
			if help {
				return cmd.Help()
			}
			return runFromDerper(streams, unit, derperArgs)
		},
	}
	// Shown in help and completions; parsed by splitFromDerperArgs.
	c.Flags().String("unit", "", "a systemd unit file whose ExecStart runs derper")
	return c
}

// splitFromDerperArgs takes relayctl's own flags (--unit, --help) off the
// front of args; the rest, after an optional --, is derper's.
func splitFromDerperArgs(args []string) (unit string, derper []string, help bool, err error) {
	for len(args) > 0 {
		a := args[0]
		switch {
		case a == "--":
			return unit, args[1:], false, nil
		case a == "--help" || a == "-h":
			return "", nil, true, nil
		case a == "--unit":
			if len(args) < 2 {
				return "", nil, false, usageErrorf("--unit needs a file")
			}
			unit, args = args[1], args[2:]
			continue
		case strings.HasPrefix(a, "--unit="):
			unit, args = strings.TrimPrefix(a, "--unit="), args[1:]
			continue
		}
		break
	}
	return unit, args, false, nil
}

func runFromDerper(streams IOStreams, unitPath string, args []string) error {
	source := "derper " + derperflags.ShellQuote(args)
	if unitPath != "" {
		if len(args) > 0 {
			return usageErrorf("give either --unit or derper's arguments, not both")
		}
		b, err := os.ReadFile(unitPath)
		if err != nil {
			return usageErrorf("--unit: %v", err)
		}
		u, err := derperflags.ParseUnit(b)
		if err != nil {
			return usageErrorf("--unit %s: %v", unitPath, err)
		}
		args, source = u.Args, unitPath+": ExecStart="+u.ExecStart
		defer func() {
			if _, ok := u.Env[derperflags.MeshKeyEnv]; ok {
				fmt.Fprintf(streams.ErrOut, "  - the unit sets %s: relayctl reads it too (a mesh-psk-file wins)\n", derperflags.MeshKeyEnv)
			}
		}()
	} else if len(args) > 0 && derperflags.IsDerperCommand(args[0]) {
		args = args[1:]
		source = "derper " + derperflags.ShellQuote(args)
	}
	if len(args) == 0 && unitPath == "" {
		return usageErrorf("give derper's arguments (relayctl config from-derper -- -hostname … -a …) or --unit FILE")
	}
	conv, err := derperflags.Convert(args)
	if err != nil {
		return &UsageError{err}
	}
	fmt.Fprint(streams.Out, conv.ConfigYAML(source))
	e := streams.ErrOut
	fmt.Fprintf(e, "Save the settings above as %s (serve reads it by default as root) and run:\n  relayctl serve\n", migratedConfigFile)
	fmt.Fprintf(e, "or give them as flags:\n  relayctl serve %s\n", derperflags.ShellQuote(conv.ServeArgs()))
	fmt.Fprintf(e, "Check the result with: relayctl config validate --config %s\n", migratedConfigFile)
	fmt.Fprintln(e, "Behaviour that differs from derper:")
	for _, d := range conv.Differences {
		fmt.Fprintf(e, "  - %s\n", d)
	}
	return nil
}
