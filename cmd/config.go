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
	o := &serveOptions{streams: streams}
	var asJSON bool
	c := &cobra.Command{
		Use:   "show [serve flags]",
		Short: "Print every setting's resultant value and its source",
		Example: `  relayctl config show
  relayctl config show --addr :8443          # what serve --addr :8443 would run with
  relayctl config show --json | jq '.[] | select(.source=="policy")'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.resolveSettings(cmd.Flags()); err != nil {
				return err
			}
			o.policyFetcher.SetLogger(stderrLogger(streams))
			o.printWarnings()
			entries := o.shownEntries()
			if asJSON {
				enc := json.NewEncoder(streams.Out)
				enc.SetIndent("", "  ")
				return enc.Encode(entries)
			}
			return writeSettingsTable(streams, o, entries)
		},
	}
	o.addFlags(c.Flags())
	c.Flags().BoolVar(&asJSON, "json", false, "print a JSON array: name, value, source, pending_restart, …")
	return c
}

// shownEntries are the resolved settings as config show prints them:
// secrets redacted, and restart-only settings marked pending when a
// running relay (found through its key file's directory) would run with
// another value after a restart.
func (o *serveOptions) shownEntries() []config.Entry {
	var running *runningStatus
	if path, cleanup, err := o.keyFile(); err == nil {
		cleanup()
		running, _ = readRunningStatus(path)
	}
	out := make([]config.Entry, 0, len(o.resolved.Entries))
	for _, e := range o.resolved.Entries {
		if running != nil && !e.Live {
			e.PendingRestart = running.pendingFor(e)
		}
		out = append(out, e.Shown())
	}
	return out
}

// pendingFor says whether e, as config show resolved it, is a change the
// running relay has not applied. The relay resolves its own sources (its
// command line and environment, the file and policy as they are now) on
// every change and lists what differs from what it started with: that
// list is the answer, since config show's command line is not the
// relay's. Only a value config show was itself given on its command line
// is compared directly: "what would serve --flag v change?".
func (st *runningStatus) pendingFor(e config.Entry) bool {
	if e.Source == config.SourceFlag {
		v, ok := st.Values[e.Name]
		return ok && v != storedValue(e)
	}
	return slices.Contains(st.Pending, e.Name)
}

func writeSettingsTable(streams IOStreams, o *serveOptions, entries []config.Entry) error {
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
	if p := o.resolved.Policy; p != nil && len(p.Documents) > 0 {
		fmt.Fprintf(streams.ErrOut, "fleet policy read from: %s\n", strings.Join(p.Documents, ", "))
	}
	return nil
}

func newConfigValidateCmd(streams IOStreams) *cobra.Command {
	o := &serveOptions{streams: streams}
	c := &cobra.Command{
		Use:     "validate [serve flags]",
		Short:   "Check the config file, environment and fleet policy without starting anything",
		Example: `  relayctl config validate --config /etc/relayctl/relayctl.yaml --policy /etc/relayctl/policy.d`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.complete(cmd); err != nil {
				return err
			}
			o.policyFetcher.SetLogger(stderrLogger(streams))
			o.printWarnings()
			sources := []string{}
			if o.sources.File != "" && fileExists(o.sources.File) {
				sources = append(sources, o.sources.File)
			}
			sources = append(sources, o.sources.Policies...)
			slices.Sort(sources)
			fmt.Fprintf(streams.ErrOut, "configuration is valid (%d settings; sources: %s)\n",
				len(o.resolved.Entries), strings.Join(append([]string{"defaults", "environment", "flags"}, sources...), ", "))
			return nil
		},
	}
	o.addFlags(c.Flags())
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
