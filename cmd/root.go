// Package cmd is relayctl's command line: it parses flags into options,
// calls the library packages, and renders results. It holds no protocol
// logic.
package cmd

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/relayctl/relayctl/relay/node"
)

// IOStreams are the command's standard streams, replaceable in tests.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
}

// SystemStreams are the process's own streams.
func SystemStreams() IOStreams { return IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr} }

// NewRootCmd builds the relayctl command tree.
func NewRootCmd(streams IOStreams) *cobra.Command {
	root := &cobra.Command{
		Use:   "relayctl",
		Short: "Run and look after a fleet of DERP relays for Tailscale clients",
		Long: `relayctl runs DERP relay nodes that Tailscale clients use when a direct path
fails, and gives their operators the tools to check, probe and rebalance them.`,
		Example: `  relayctl serve --dev                                  # a relay on 127.0.0.1:3340 to try
  relayctl certgen --ip 203.0.113.7 > derpmap.json      # an IP-only relay's certificate and map
  relayctl probe --derp-map derpmap.json --once         # is every relay of the map healthy?
  relayctl config show                                  # what serve would run with, and why`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.ErrOut)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageErrorf("%v (see '%s --help')", err, c.CommandPath())
	})
	root.AddCommand(
		newServeCmd(streams, nil),
		newKeygenCmd(streams),
		newCertgenCmd(streams),
		newVersionCmd(streams),
		newProbeCmd(streams, nil),
		newNetcheckCmd(streams, nil),
		newPruneCmd(streams, nil),
		newBenchCmd(streams, nil),
		newConfigCmd(streams),
		newDERPMapCmd(streams),
	)
	registerValueCompletions(root)
	root.DisableAutoGenTag = true // generated docs stay byte-stable
	return root
}

// Execute runs relayctl with args and returns the process exit code:
// 0 success, 1 a check or operation failed, 2 bad usage or configuration.
func Execute(args []string, streams IOStreams) int {
	root := NewRootCmd(streams)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return 0
	}
	if strings.Contains(err.Error(), "unknown shorthand flag") {
		if hint := singleDashHint(root, args); hint != nil {
			err = hint
		}
	}
	fmt.Fprintf(streams.ErrOut, "relayctl: %v\n", err)
	return ExitCode(err)
}

// UsageError is bad usage or configuration: exit code 2.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

func usageErrorf(format string, args ...any) error {
	return &UsageError{fmt.Errorf(format, args...)}
}

// ExitCode maps an error to relayctl's exit codes in one place. A
// library's bad-configuration error (node.ConfigError) is bad usage.
func ExitCode(err error) int {
	var ue *UsageError
	var ce *node.ConfigError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ue), errors.As(err, &ce):
		return 2
	}
	// cobra reports unknown commands and bad arguments as plain errors.
	if isCobraUsageError(err) {
		return 2
	}
	return 1
}

func isCobraUsageError(err error) bool {
	msg := err.Error()
	for _, prefix := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "accepts ", "requires at least", "invalid argument"} {
		if len(msg) >= len(prefix) && msg[:len(prefix)] == prefix {
			return true
		}
	}
	return false
}
