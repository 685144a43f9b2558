package cmd

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/signal"
	"reflect"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/relayctl/relayctl/internal/render"
	"github.com/relayctl/relayctl/relay/loadgen"
)

// benchOptions are the settings of `relayctl bench` and its subcommands.
// The run settings are loadgen's own configs, bound to flags directly, so
// their defaults and validation are declared once, in loadgen.
type benchOptions struct {
	JSON     bool
	Insecure bool
	// Target is --server and --server-pid; it is copied into the run's
	// config.
	Target     loadgen.Target
	Throughput loadgen.ThroughputConfig
	Idle       loadgen.IdleConfig
	Handshakes loadgen.HandshakeConfig
	// Receivers is --receiver-server(-pid): the second node of a meshed
	// throughput run when its URL is set.
	Receivers loadgen.Target

	streams IOStreams
	// windowSet records an explicit --window, which --open-loop contradicts.
	windowSet bool
}

// benchKind names which run a command line asked for.
type benchKind string

const (
	benchThroughput benchKind = "throughput"
	benchIdle       benchKind = "idle"
	benchHandshakes benchKind = "handshakes"
)

const benchLong = `Measure how much a DERP relay carries. Without a subcommand, bench connects --pairs
sender→receiver pairs of clients and relays --size-byte packets through the relay for
--duration, each pair keeping at most --window packets in flight (or, with --open-loop,
sending as fast as the relay reads). With --stall-receivers or --stall-mixed, a baseline
and a control phase precede the measured one, in which receivers stop reading; the other
pairs' rates are reported against the baseline, as a mean and for the worst 250 ms. A separate pair times round trips through the relay
at a low rate, first idle and then under the load. It reports delivered packets/s and
MB/s, loss, and round-trip percentiles.

"bench idle" connects --clients clients that stay silent and reports the relay's memory
per connection; "bench handshakes" connects, completes the DERP handshake and hangs up
as fast as --parallel workers can, and reports handshakes/s.

With --server-pid (a relay on this machine), the relay's CPU time and memory are read
from /proc, and rates are also given per server CPU-second: the figure that compares
relays fairly. The load generator's own CPU use is reported too; if it is near one
core per core it may run on, the generator, not the relay, was the limit.

A live progress line goes to stderr on a terminal; --json prints one JSON document on
stdout. Point it only at relays you operate: it is a load test.`

func newBenchCmd(streams IOStreams, runF func(benchKind, *benchOptions) error) *cobra.Command {
	o := &benchOptions{streams: streams, Throughput: loadgen.DefaultThroughputConfig(),
		Idle: loadgen.DefaultIdleConfig(), Handshakes: loadgen.DefaultHandshakeConfig()}
	run := func(kind benchKind) func(*cobra.Command, []string) error {
		return func(c *cobra.Command, _ []string) error {
			if err := o.validate(kind); err != nil {
				return benchUsageError(c, err)
			}
			if runF != nil {
				return runF(kind, o)
			}
			return runBench(c.Context(), kind, o)
		}
	}
	c := &cobra.Command{
		Use:   "bench --server URL",
		Short: "Measure a relay's capacity: packets relayed, latency under load, memory, handshakes",
		Long:  benchLong,
		Example: `  relayctl bench --server http://127.0.0.1:3340 --server-pid $(pidof relayctl)
  relayctl bench --server http://127.0.0.1:3340 --open-loop --size 64 --json
  relayctl bench idle --server http://127.0.0.1:3340 --clients 5000 --server-pid 1234
  relayctl bench handshakes --server https://relay.example.com --duration 20s`,
		Args: cobra.NoArgs,
		RunE: run(benchThroughput),
	}
	pf := c.PersistentFlags()
	pf.StringVar(&o.Target.URL, "server", "", "the relay: http://host:port or https://host[:port], optionally with the DERP path (default /derp) (required)")
	pf.IntVar(&o.Target.ServerPID, "server-pid", 0, "the relay's process ID on this machine, to read its CPU time and memory from /proc")
	pf.BoolVar(&o.JSON, "json", false, "print one JSON document on stdout")
	pf.BoolVar(&o.Insecure, "insecure", false, "accept any TLS certificate (self-signed test relays)")

	tp, f := &o.Throughput, c.Flags()
	f.DurationVar(&tp.Duration, "duration", tp.Duration, "measured time, after --warmup")
	f.IntVar(&tp.Pairs, "pairs", tp.Pairs, "sender→receiver client pairs")
	f.IntVar(&tp.PacketSize, "size", tp.PacketSize, "packet payload size in bytes")
	f.IntVar(&tp.Window, "window", tp.Window, "packets in flight per pair (closed loop)")
	f.BoolVar(&tp.OpenLoop, "open-loop", false, "send as fast as the relay reads, without flow control")
	f.IntVar(&tp.StalledReceivers, "stall-receivers", 0, "this many pairs' receivers stop reading when the load starts; their senders keep pace with a live pair (at most half of --pairs)")
	f.BoolVar(&tp.MixedStall, "stall-mixed", false, "add a sender that alternates packets between its own receiver and one that stops reading after the baseline (it stays connected)")
	f.DurationVar(&tp.Warmup, "warmup", tp.Warmup, "load before measuring; 0 for none")
	f.DurationVar(&tp.PingInterval, "ping-interval", tp.PingInterval, "period of the round-trip pings beside the load; 0 disables them")
	f.DurationVar(&tp.IdlePing, "idle-ping", tp.IdlePing, "how long to time round trips before the load starts; 0 skips it")
	f.StringVar(&o.Receivers.URL, "receiver-server", "", "a second relay meshed with --server: receivers connect there, so every packet is forwarded between the two")
	f.IntVar(&o.Receivers.ServerPID, "receiver-server-pid", 0, "the --receiver-server relay's process ID; its CPU time is added to --server-pid's")

	c.AddCommand(newBenchIdleCmd(o, run(benchIdle)), newBenchHandshakesCmd(o, run(benchHandshakes)))
	c.PreRun = func(c *cobra.Command, _ []string) { o.windowSet = c.Flags().Changed("window") }
	return c
}

func newBenchIdleCmd(o *benchOptions, run func(*cobra.Command, []string) error) *cobra.Command {
	c := &cobra.Command{
		Use:   "idle --server URL",
		Short: "Connect many silent clients and report the relay's memory per connection",
		Long: `Connect --clients clients (--parallel at a time) that complete the DERP handshake and
stay silent, wait --settle, and report the growth of the relay's resident memory divided
by the client count (needs --server-pid). With --exchange, every client first sends one
small packet to another client and reads the one sent to it, as real clients exchange
disco pings before going quiet; a --settle of 75s then also covers one round of the
relay's 60 s keepalives, which is what a real idle node looks like. Each client is a socket on both sides: the
relay and this process each need that many open files (both raise their soft limit to the
hard one; see ulimit -Hn).`,
		Example: `  relayctl bench idle --server http://127.0.0.1:3340 --server-pid $(pidof relayctl) --clients 5000
  relayctl bench idle --server http://127.0.0.1:3340 --server-pid $(pidof relayctl) --exchange --settle 75s`,
		Args: cobra.NoArgs,
		RunE: run,
	}
	cfg, f := &o.Idle, c.Flags()
	f.IntVar(&cfg.Clients, "clients", cfg.Clients, "idle clients to connect")
	f.IntVar(&cfg.Parallel, "parallel", cfg.Parallel, "handshakes in progress at once")
	f.DurationVar(&cfg.Settle, "settle", cfg.Settle, "wait after the last connect (or with --exchange, the last packet) before reading memory")
	f.BoolVar(&cfg.Exchange, "exchange", false, fmt.Sprintf("every client first sends one %d-byte disco-like packet to another and reads the one sent to it, as real clients do", loadgen.ExchangeSize))
	return c
}

func newBenchHandshakesCmd(o *benchOptions, run func(*cobra.Command, []string) error) *cobra.Command {
	c := &cobra.Command{
		Use:   "handshakes --server URL",
		Short: "Connect, handshake and disconnect as fast as possible; report handshakes/s",
		Long: `Run --parallel workers that each connect, upgrade, complete the DERP key exchange and
hang up (with a TCP reset, so no TIME_WAIT sockets pile up), for --duration. Reports
handshakes/s, handshake time percentiles, and with --server-pid handshakes per server
CPU-second.`,
		Example: `  relayctl bench handshakes --server http://127.0.0.1:3340 --server-pid $(pidof relayctl) --duration 10s`,
		Args:    cobra.NoArgs,
		RunE:    run,
	}
	cfg, f := &o.Handshakes, c.Flags()
	f.DurationVar(&cfg.Duration, "duration", cfg.Duration, "how long to run")
	f.IntVar(&cfg.Parallel, "parallel", cfg.Parallel, "workers connecting at once")
	return c
}

// validate checks what only the command line can get wrong, fills the
// run's config with the target, and leaves the rest to loadgen's Validate.
func (o *benchOptions) validate(kind benchKind) error {
	if o.Target.URL == "" {
		return usageErrorf("--server is required")
	}
	if err := o.Target.Validate(); err != nil {
		return err
	}
	if o.Insecure {
		o.Target.TLSConfig = &tls.Config{InsecureSkipVerify: true}
	}
	switch kind {
	case benchThroughput:
		switch {
		case o.Throughput.OpenLoop && o.windowSet:
			return usageErrorf("--window and --open-loop exclude each other")
		case o.Receivers.URL == "" && o.Receivers.ServerPID != 0:
			return usageErrorf("--receiver-server-pid needs --receiver-server")
		}
		o.Throughput.Target, o.Throughput.Receivers = o.Target, nil
		if o.Receivers.URL != "" {
			o.Receivers.TLSConfig = o.Target.TLSConfig
			o.Throughput.Receivers = &o.Receivers
		}
		return o.Throughput.Validate()
	case benchIdle:
		o.Idle.Target = o.Target
		return o.Idle.Validate()
	default:
		o.Handshakes.Target = o.Target
		return o.Handshakes.Validate()
	}
}

// benchUsageError is a usage error that names the flag bound to the field
// a loadgen.OptionError is about.
func benchUsageError(c *cobra.Command, err error) error {
	var oe *loadgen.OptionError
	if errors.As(err, &oe) {
		if name := flagBoundTo(c, oe.Field); name != "" {
			return usageErrorf("--%s %v: want %s", name, oe.Value, oe.Want)
		}
	}
	var usage *UsageError
	if errors.As(err, &usage) {
		return err
	}
	return &UsageError{err}
}

// flagBoundTo is the name of c's flag (its own or inherited) that writes
// to field, a pointer; "" if none does. pflag's values are the bound
// variables themselves, converted to flag types.
func flagBoundTo(c *cobra.Command, field any) string {
	want := reflect.ValueOf(field)
	if want.Kind() != reflect.Pointer {
		return ""
	}
	var name string
	c.Flags().VisitAll(func(f *pflag.Flag) {
		if v := reflect.ValueOf(f.Value); v.Kind() == reflect.Pointer && v.Pointer() == want.Pointer() {
			name = f.Name
		}
	})
	return name
}

func runBench(ctx context.Context, kind benchKind, o *benchOptions) error {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	progress := render.StartProgress(o.streams.ErrOut, render.IsTerminal(o.streams.ErrOut), "connecting")
	report := func(p loadgen.Progress) { progress.Set("%s", formatBenchProgress(p)) }
	result, table, err := o.run(ctx, kind, report)
	progress.Stop()
	if err != nil {
		return newBenchError(fmt.Errorf("bench %s: %w", o.Target.URL, err), o.Insecure)
	}
	if o.JSON {
		enc := json.NewEncoder(o.streams.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(result)
	}
	_, err = io.WriteString(o.streams.Out, render.ModeFor(o.streams.Out).Render(table))
	return err
}

// run runs the kind's loadgen run with its validated config and renders
// the result as a table.
func (o *benchOptions) run(ctx context.Context, kind benchKind, report func(loadgen.Progress)) (any, render.Table, error) {
	switch kind {
	case benchThroughput:
		o.Throughput.Progress = report
		res, err := loadgen.RunThroughput(ctx, o.Throughput)
		if err != nil {
			return nil, render.Table{}, err
		}
		return res, throughputTable(res), nil
	case benchIdle:
		o.Idle.Progress = report
		res, err := loadgen.RunIdle(ctx, o.Idle)
		if err != nil {
			return nil, render.Table{}, err
		}
		return res, idleTable(res), nil
	default:
		o.Handshakes.Progress = report
		res, err := loadgen.RunHandshakes(ctx, o.Handshakes)
		if err != nil {
			return nil, render.Table{}, err
		}
		return res, handshakeTable(res), nil
	}
}

func formatBenchProgress(p loadgen.Progress) string {
	var elapsed string
	if p.Total > 0 {
		elapsed = fmt.Sprintf(" %.1fs/%.0fs", p.Elapsed.Seconds(), p.Total.Seconds())
	} else if p.Elapsed > 0 {
		elapsed = fmt.Sprintf(" %.1fs", p.Elapsed.Seconds())
	}
	switch {
	case p.Bytes > 0:
		return fmt.Sprintf("%s%s  %s packets/s  %.1f MB/s", p.Phase, elapsed, render.SI(p.Rate), p.Bytes/1e6)
	case p.Phase == "connecting" && p.Count > 0:
		return fmt.Sprintf("%s%s  %d clients  %s/s", p.Phase, elapsed, p.Count, render.SI(p.Rate))
	case p.Rate > 0:
		return fmt.Sprintf("%s%s  %d done  %s/s", p.Phase, elapsed, p.Count, render.SI(p.Rate))
	}
	return p.Phase + elapsed
}

func row(figure, value string) []render.Cell {
	return []render.Cell{{Text: figure}, {Text: value}}
}

func cpuText(u loadgen.CPUUsage) string {
	return fmt.Sprintf("%.2f s (%.0f %% of a core)", u.Seconds, 100*u.Utilization)
}

func latencyText(l *loadgen.Latency) string {
	if l.Samples == 0 {
		return fmt.Sprintf("no replies (%d lost)", l.Lost)
	}
	s := fmt.Sprintf("p50 %.3f  p90 %.3f  p99 %.3f  max %.3f ms", l.P50, l.P90, l.P99, l.Max)
	if l.Lost > 0 {
		s += fmt.Sprintf("  (%d of %d lost)", l.Lost, l.Lost+l.Samples)
	}
	return s
}

func throughputTable(r *loadgen.ThroughputResult) render.Table {
	mode := fmt.Sprintf("window %d", r.Window)
	if r.Mode == "open-loop" {
		mode = "open loop"
	}
	t := render.Table{
		Title:   fmt.Sprintf("%d pairs, %d-byte packets, %s, %.1f s measured", r.Pairs, r.PacketSize, mode, r.Seconds),
		Headers: []string{"Figure", "Value"},
	}
	t.Rows = append(t.Rows,
		row("delivered", fmt.Sprintf("%s packets/s  %.1f MB/s", render.SI(r.PacketsPerSecond), r.MegabytesPerSecond)),
		row("per pair", fmt.Sprintf("min %s  median %s  max %s packets/s", render.SI(r.PairPacketsPerSecond.Min), render.SI(r.PairPacketsPerSecond.Median), render.SI(r.PairPacketsPerSecond.Max))),
		row("loss", fmt.Sprintf("%.2f %%", 100*r.LossRatio)),
	)
	if r.StalledReceivers > 0 {
		t.Rows = append(t.Rows, row("stalled receivers", fmt.Sprintf("%d (not counted above)", r.StalledReceivers)))
	}
	if r.MixedStall {
		t.Rows = append(t.Rows, row("mixed sender", fmt.Sprintf("to its own receiver and to one that stalled (not counted above); own receiver kept %s of its rate", ratioText(r.MixedReceiverRatio))))
	}
	if r.StallBaseline != nil {
		t.Rows = append(t.Rows,
			row("other pairs kept", fmt.Sprintf("%s of their rate before the stall (mean %s packets/s); worst %v: %s", ratioText(r.StallKeptRatio), render.SI(r.StallBaseline.Mean), loadgen.StallWindow, ratioText(r.StallWorstWindowRatio))),
			row("control, no stall", fmt.Sprintf("%s; worst %v: %s", ratioText(r.ControlKeptRatio), loadgen.StallWindow, ratioText(r.ControlWorstWindowRatio))),
		)
	}
	if r.RTTIdle != nil {
		t.Rows = append(t.Rows, row("round trip, idle", latencyText(r.RTTIdle)))
	}
	if r.RTTLoad != nil {
		t.Rows = append(t.Rows, row("round trip, under load", latencyText(r.RTTLoad)))
	}
	if r.Server != nil && r.ReceiversNode != nil {
		t.Rows = append(t.Rows, row("receivers' node CPU", cpuText(*r.ReceiversNode)+" (included in server CPU)"))
	}
	if r.Server != nil {
		t.Rows = append(t.Rows,
			row("server CPU", cpuText(r.Server.CPUUsage)),
			row("packets per server CPU-second", render.SI(r.PacketsPerServerCPUSecond)),
			row("server RSS", fmt.Sprintf("%.1f MiB", float64(r.Server.RSSBytes)/(1<<20))),
		)
	}
	t.Rows = append(t.Rows, row("generator CPU", cpuText(r.Generator.CPUUsage)))
	if r.Malformed > 0 {
		t.Rows = append(t.Rows, []render.Cell{{Text: "malformed packets"}, {Text: fmt.Sprint(r.Malformed), Tone: render.Bad}})
	}
	return t
}

func ratioText(r *float64) string {
	if r == nil {
		return "–"
	}
	return fmt.Sprintf("%.2f", *r)
}

func idleTable(r *loadgen.IdleResult) render.Table {
	title := fmt.Sprintf("%d idle clients, %.0f s after connecting", r.Clients, r.SettleSeconds)
	if r.Exchanged {
		title = fmt.Sprintf("%d idle clients, %.0f s after each sent and received one packet", r.Clients, r.SettleSeconds)
	}
	t := render.Table{Title: title, Headers: []string{"Figure", "Value"}}
	t.Rows = append(t.Rows, row("connected in", fmt.Sprintf("%.2f s (%s/s)", r.ConnectSeconds, render.SI(r.ConnectsPerSecond))))
	if r.ServerRSSAfter > 0 {
		t.Rows = append(t.Rows,
			row("server RSS before", fmt.Sprintf("%.1f MiB", float64(r.ServerRSSBefore)/(1<<20))),
			row("server RSS with clients", fmt.Sprintf("%.1f MiB", float64(r.ServerRSSAfter)/(1<<20))),
			row("server RSS per client", fmt.Sprintf("%.1f KiB", r.ServerRSSPerClient/1024)),
		)
	} else {
		t.Rows = append(t.Rows, []render.Cell{{Text: "server RSS per client"}, {Text: "unknown: give --server-pid", Tone: render.Faint}})
	}
	return t
}

func handshakeTable(r *loadgen.HandshakeResult) render.Table {
	t := render.Table{Title: fmt.Sprintf("handshakes, %d workers, %.1f s", r.Parallel, r.Seconds), Headers: []string{"Figure", "Value"}}
	t.Rows = append(t.Rows,
		row("handshakes", fmt.Sprintf("%d (%s/s)", r.Handshakes, render.SI(r.HandshakesPerSecond))),
		row("handshake time", latencyText(&loadgen.Latency{Samples: r.Time.Samples, P50: r.Time.P50, P90: r.Time.P90, P99: r.Time.P99, Max: r.Time.Max})),
	)
	if r.Failures > 0 {
		t.Rows = append(t.Rows, []render.Cell{{Text: "failures"}, {Text: fmt.Sprintf("%d, last: %s", r.Failures, r.LastError), Tone: render.Bad}})
	}
	if r.Server != nil {
		t.Rows = append(t.Rows,
			row("server CPU", cpuText(r.Server.CPUUsage)),
			row("handshakes per server CPU-second", render.SI(r.HandshakesPerServerCPUSecond)),
		)
	}
	t.Rows = append(t.Rows, row("generator CPU", cpuText(r.Generator.CPUUsage)))
	return t
}
