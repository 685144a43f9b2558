package cmd

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/relayctl/relayctl/config"
	"github.com/relayctl/relayctl/internal/render"
	"github.com/relayctl/relayctl/relay/node"
)

func newConfigCmd(streams IOStreams) *cobra.Command {
	c := &cobra.Command{
		Use:   "config",
		Short: "Show or check the settings serve would run with, and where each comes from",
		Long: `serve merges its settings from built-in defaults, the config file, RELAYCTL_*
environment variables, command-line flags and fleet policy (enforced: nothing below it
can override it). These commands show and check that resultant set without starting a
relay. They take the same flags as serve.`,
		Example: `  relayctl config show
  relayctl config validate --config /etc/relayctl/relayctl.yaml --policy /etc/relayctl/policy.d`,
	}
	c.AddCommand(newConfigShowCmd(streams), newConfigValidateCmd(streams), newConfigFromDerperCmd(streams))
	return c
}

func newConfigShowCmd(streams IOStreams) *cobra.Command {
	f := &serveFlags{streams: streams}
	var asJSON bool
	c := &cobra.Command{
		Use:   "show [serve flags]",
		Short: "Print every setting's resultant value and its source",
		Example: `  relayctl config show
  relayctl config show --addr :8443          # what serve --addr :8443 would run with
  relayctl config show --json | jq '.[] | select(.source=="policy")'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, opts, err := f.resolve(cmd.Flags())
			if err != nil {
				return err
			}
			opts.PolicyFetcher.SetLogger(stderrLogger(streams))
			printWarnings(streams, opts.Resolved)
			entries := shownEntries(&cfg, opts.Resolved)
			if asJSON {
				enc := json.NewEncoder(streams.Out)
				enc.SetIndent("", "  ")
				return enc.Encode(entries)
			}
			return writeSettingsTable(streams, opts.Resolved, entries)
		},
	}
	f.addFlags(c.Flags())
	c.Flags().BoolVar(&asJSON, "json", false, "print a JSON array: name, value, source, pending_restart, …")
	return c
}

// shownEntries are the resolved settings as config show prints them:
// secrets redacted, and restart-only settings marked pending when a
// running relay (found through its key file's directory) would run with
// another value after a restart.
func shownEntries(cfg *node.Config, res *config.Result) []config.Entry {
	var running *node.RunningStatus
	if path, cleanup, err := cfg.KeyPath(); err == nil {
		cleanup()
		running, _ = node.ReadRunningStatus(path)
	}
	out := make([]config.Entry, 0, len(res.Entries))
	for _, e := range res.Entries {
		if running != nil && !e.Live {
			e.PendingRestart = running.PendingFor(e)
		}
		out = append(out, e.Shown())
	}
	return out
}

// printWarnings shows what resolving the settings found wrong but
// harmless (a RELAYCTL_* variable that names no setting).
func printWarnings(streams IOStreams, res *config.Result) {
	for _, w := range res.Warnings {
		fmt.Fprintf(streams.ErrOut, "warning: %s\n", w)
	}
}

func writeSettingsTable(streams IOStreams, res *config.Result, entries []config.Entry) error {
	t := render.Table{Headers: []string{"SETTING", "VALUE", "SOURCE", "NOTE"}}
	for _, e := range entries {
		var notes []string
		if e.Origin != "" && e.Source != config.SourceFlag {
			notes = append(notes, e.Origin)
		}
		if e.Overridden != "" {
			notes = append(notes, fmt.Sprintf("enforced by policy (lower source asked for %s)", e.Overridden))
		}
		if e.PendingRestart {
			notes = append(notes, "pending restart")
		}
		if e.Live {
			notes = append(notes, "live")
		}
		v := e.Value
		if v == "" {
			v = `""`
		}
		sourceTone, noteTone := render.Faint, render.Faint
		if e.Source != config.SourceDefault {
			sourceTone = render.Normal
		}
		if e.Source == config.SourcePolicy {
			sourceTone = render.Good
		}
		if e.PendingRestart || e.Overridden != "" {
			noteTone = render.Warn
		}
		t.Rows = append(t.Rows, []render.Cell{{Text: e.Name}, {Text: v}, {Text: string(e.Source), Tone: sourceTone}, {Text: strings.Join(notes, "; "), Tone: noteTone}})
	}
	if _, err := io.WriteString(streams.Out, render.ModeFor(streams.Out).Render(t)); err != nil {
		return err
	}
	if p := res.Policy; p != nil && len(p.Documents) > 0 {
		fmt.Fprintf(streams.ErrOut, "fleet policy read from: %s\n", strings.Join(p.Documents, ", "))
	}
	return nil
}

func newConfigValidateCmd(streams IOStreams) *cobra.Command {
	f := &serveFlags{streams: streams}
	c := &cobra.Command{
		Use:     "validate [serve flags]",
		Short:   "Check the config file, environment and fleet policy without starting anything",
		Example: `  relayctl config validate --config /etc/relayctl/relayctl.yaml --policy /etc/relayctl/policy.d`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, opts, err := f.resolve(cmd.Flags())
			if err != nil {
				return err
			}
			if _, err := node.New(cfg, opts); err != nil {
				return err
			}
			opts.PolicyFetcher.SetLogger(stderrLogger(streams))
			printWarnings(streams, opts.Resolved)
			sources := []string{}
			if opts.Sources.File != "" && fileExists(opts.Sources.File) {
				sources = append(sources, opts.Sources.File)
			}
			sources = append(sources, opts.Sources.Policies...)
			slices.Sort(sources)
			fmt.Fprintf(streams.ErrOut, "configuration is valid (%d settings; sources: %s)\n",
				len(opts.Resolved.Entries), strings.Join(append([]string{"defaults", "environment", "flags"}, sources...), ", "))
			return nil
		},
	}
	f.addFlags(c.Flags())
	return c
}

// stderrLogger reports warnings met while resolving (a fleet policy URL
// answered from its saved copy) to the user.
func stderrLogger(streams IOStreams) *slog.Logger {
	return slog.New(slog.NewTextHandler(streams.ErrOut, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
