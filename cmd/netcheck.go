package cmd

import (
	"context"
	"fmt"
	"net/netip"
	"os/signal"
	"syscall"
	"time"

	"github.com/relayctl/relayctl/internal/render"
	"github.com/relayctl/relayctl/probe/netcheck"
	"github.com/spf13/cobra"
)

// netcheckOptions are the settings of `relayctl netcheck`.
type netcheckOptions struct {
	DERPMap string
	JSON    bool
	Format  string // "", "json" or "json-line"
	Verbose bool
	Every   time.Duration

	streams IOStreams
}

// Output formats of --format, as `tailscale netcheck --format` has them.
const (
	netcheckFormatText     = ""
	netcheckFormatJSON     = "json"
	netcheckFormatJSONLine = "json-line"
)

func newNetcheckCmd(streams IOStreams, runF func(*netcheckOptions) error) *cobra.Command {
	o := &netcheckOptions{streams: streams}
	c := &cobra.Command{
		Use:   "netcheck --derp-map SRC",
		Short: "Show this host's view of the DERP map: UDP, public address, latency per region",
		Long: `Check the network as a Tailscale client would: whether UDP works, the public IPv4 and
IPv6 address and port STUN servers see, whether that mapping varies by destination
(a hard NAT), the latency to every region and what measured it (STUN; when UDP is
blocked, ICMP echo and HTTPS /derp/latency-check), the preferred region (lowest
latency × HomeParams.RegionScore), whether the default gateway offers port mapping
(UPnP, NAT-PMP, PCP) and whether a captive portal intercepts HTTP.

--json (or --format json) prints Tailscale's netcheck report field names (UDP, IPv4,
IPv6, GlobalV4, GlobalV6, MappingVariesByDestIP, PreferredDERP, RegionLatency in
nanoseconds keyed by region ID, RegionV4Latency, RegionV6Latency, ICMPv4, UPnP, PMP,
PCP, CaptivePortal), plus RegionLatencyMethod: "STUN", "ICMP" or "HTTPS" per region.
--format json-line prints each report on one line, for streaming with --every.
--verbose prints every probe on stderr as it completes.`,
		Example: `  relayctl netcheck --derp-map derpmap.json
  relayctl netcheck --derp-map https://controlplane.example.com/derpmap/default --json | jq .PreferredDERP
  relayctl netcheck --derp-map derpmap.json --every 30s --format json-line >> netcheck.log`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.DERPMap == "" {
				return usageErrorf("--derp-map is required")
			}
			switch o.Format {
			case netcheckFormatText, netcheckFormatJSON, netcheckFormatJSONLine:
			default:
				return usageErrorf("--format %q: want json or json-line (or leave it out for text)", o.Format)
			}
			if o.JSON {
				if o.Format != netcheckFormatText && o.Format != netcheckFormatJSON {
					return usageErrorf("--json is --format json; it cannot go with --format %s", o.Format)
				}
				o.Format = netcheckFormatJSON
			}
			if o.Every < 0 {
				return usageErrorf("--every %v: want a positive duration (or 0 for one report)", o.Every)
			}
			if runF != nil {
				return runF(o)
			}
			return runNetcheck(cmd.Context(), o)
		},
	}
	f := c.Flags()
	f.StringVar(&o.DERPMap, "derp-map", "", "DERP map (JSON, inventory, Tailscale policy file or headscale YAML): a file path, file:// URL or http(s):// URL (required)")
	f.BoolVar(&o.JSON, "json", false, "print one JSON object with Tailscale's netcheck field names (same as --format json)")
	f.StringVar(&o.Format, "format", "", `output format: empty for text, "json" or "json-line" (one report per line)`)
	f.BoolVar(&o.Verbose, "verbose", false, "print each probe on stderr as it completes")
	f.DurationVar(&o.Every, "every", 0, "repeat the report this often until interrupted (0: once)")
	c.RegisterFlagCompletionFunc("format", fixedValues("json\tone indented JSON object", "json-line\tone JSON object per line"))
	return c
}

func runNetcheck(ctx context.Context, o *netcheckOptions) error {
	m, err := loadDERPMapFlag(ctx, o.DERPMap, false)
	if err != nil {
		return err
	}
	plain, err := plainHTTPFromEnv()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	opts := netcheck.DefaultOptions()
	opts.PlainHTTP, opts.DefaultGateway = plain, netcheckGateway
	for {
		start := time.Now()
		if o.Verbose {
			opts.OnEvent = func(ev netcheck.Event) {
				fmt.Fprintln(o.streams.ErrOut, formatNetcheckEvent(m, time.Since(start), ev))
			}
		}
		// The spinner would tangle with the probe lines.
		progress := render.StartProgress(o.streams.ErrOut, !o.Verbose && render.IsTerminal(o.streams.ErrOut), "measuring…")
		rep, err := netcheck.Run(ctx, m, opts)
		progress.Stop()
		if ctx.Err() != nil {
			return nil // interrupted: no half-measured report
		}
		if err != nil {
			return err
		}
		if err := writeNetcheck(o.streams.Out, o.Format, m, rep); err != nil {
			return err
		}
		if o.Every == 0 {
			return nil
		}
		next := time.NewTimer(time.Until(start.Add(o.Every)))
		select {
		case <-ctx.Done():
			next.Stop()
			return nil // interrupted between reports: a normal end
		case <-next.C:
		}
	}
}

// netcheckGateway finds the gateway to ask for port mapping; nil is the
// host's default route. Tests replace it to keep their traffic on loopback.
var netcheckGateway func() (gateway, self netip.Addr, err error)
