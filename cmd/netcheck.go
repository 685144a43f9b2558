package cmd

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/relayctl/relayctl/internal/derpmap"
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
	opts := netcheck.Options{PlainHTTP: plain, DefaultGateway: netcheckGateway}
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

// writeNetcheck prints one report in the chosen format.
func writeNetcheck(w io.Writer, format string, m *derpmap.DERPMap, rep *netcheck.Report) error {
	switch format {
	case netcheckFormatJSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	case netcheckFormatJSONLine:
		return json.NewEncoder(w).Encode(rep)
	}
	writeNetcheckReport(w, m, rep)
	return nil
}

// formatNetcheckEvent is one --verbose line: time since the report
// started, the method, the region, what was asked and what came back.
func formatNetcheckEvent(m *derpmap.DERPMap, since time.Duration, ev netcheck.Event) string {
	var b strings.Builder
	fmt.Fprintf(&b, "netcheck: +%-6s %-7s", since.Round(time.Millisecond), ev.Method)
	if ev.Region != 0 {
		label := strconv.Itoa(ev.Region)
		if reg := m.Regions[ev.Region]; reg != nil && reg.RegionCode != "" {
			label = reg.RegionCode + "/" + label
		}
		fmt.Fprintf(&b, " region %s", label)
	}
	if ev.Target != "" {
		fmt.Fprintf(&b, " %s", ev.Target)
	}
	if ev.Latency > 0 && ev.Err == nil {
		fmt.Fprintf(&b, " %v", ev.Latency.Round(10*time.Microsecond))
	}
	if ev.Detail != "" {
		fmt.Fprintf(&b, ": %s", ev.Detail)
	}
	if ev.Err != nil {
		fmt.Fprintf(&b, ": %v", ev.Err)
	}
	return b.String()
}

// netcheckGateway finds the gateway to ask for port mapping; nil is the
// host's default route. Tests replace it to keep their traffic on loopback.
var netcheckGateway func() (gateway, self netip.Addr, err error)

// writeNetcheckReport prints the report in `tailscale netcheck`'s layout.
func writeNetcheckReport(w io.Writer, m *derpmap.DERPMap, r *netcheck.Report) {
	fmt.Fprintf(w, "\nReport:\n")
	fmt.Fprintf(w, "\t* Time: %s\n", r.Now.Local().Format("2006-01-02 15:04:05.999999999Z07:00"))
	fmt.Fprintf(w, "\t* UDP: %v\n", r.UDP)
	if r.GlobalV4.IsValid() {
		fmt.Fprintf(w, "\t* IPv4: yes, %s\n", r.GlobalV4)
	} else {
		fmt.Fprintf(w, "\t* IPv4: (no addr found)\n")
	}
	switch {
	case r.GlobalV6.IsValid():
		fmt.Fprintf(w, "\t* IPv6: yes, %s\n", r.GlobalV6)
	case r.IPv6:
		fmt.Fprintf(w, "\t* IPv6: (no addr found)\n")
	case r.OSHasIPv6:
		fmt.Fprintf(w, "\t* IPv6: no, but OS has support\n")
	default:
		fmt.Fprintf(w, "\t* IPv6: no, unavailable in OS\n")
	}
	varies := ""
	if r.MappingVariesByDestIP != nil {
		varies = strconv.FormatBool(*r.MappingVariesByDestIP)
	}
	fmt.Fprintf(w, "\t* MappingVariesByDestIP: %s\n", varies)
	fmt.Fprintf(w, "\t* PortMapping: %s\n", portMappingSummary(r))
	if r.CaptivePortal != nil {
		fmt.Fprintf(w, "\t* CaptivePortal: %v\n", *r.CaptivePortal)
	}
	switch reg := m.Regions[r.PreferredDERP]; {
	case r.PreferredDERP == 0 && len(r.RegionLatency) == 0:
		fmt.Fprintf(w, "\t* Nearest DERP: unknown (no response to latency probes)\n")
	case reg == nil:
		fmt.Fprintf(w, "\t* Nearest DERP: %d (region not found in map)\n", r.PreferredDERP)
	default:
		fmt.Fprintf(w, "\t* Nearest DERP: %s\n", regionTitle(r.PreferredDERP, reg))
	}
	fmt.Fprintf(w, "\t* DERP latency:\n")
	ids := m.RegionIDs()
	// Measured regions first, fastest first; then the rest by ID.
	slices.SortStableFunc(ids, func(a, b int) int {
		da, oka := r.RegionLatency[a]
		db, okb := r.RegionLatency[b]
		switch {
		case oka && okb && da != db:
			return cmp.Compare(da, db)
		case oka != okb:
			if oka {
				return -1
			}
			return 1
		}
		return a - b
	})
	for _, id := range ids {
		reg := m.Regions[id]
		lat := ""
		if d, ok := r.RegionLatency[id]; ok {
			lat = d.Round(100 * time.Microsecond).String()
		}
		code := reg.RegionCode
		if code == "" {
			code = strconv.Itoa(id)
		}
		name := reg.RegionName
		if name == "" {
			name = "region " + strconv.Itoa(id)
		}
		via := ""
		if m := r.RegionLatencyMethod[id]; m != "" {
			via = " via " + m
		}
		fmt.Fprintf(w, "\t\t- %3s: %-7s (%s)%s\n", code, lat, name, via)
	}
}

// regionTitle names a region for a reader: its RegionName, else its code
// and ID, since both are optional in a DERP map.
func regionTitle(id int, reg *derpmap.DERPRegion) string {
	switch {
	case reg.RegionName != "":
		return reg.RegionName
	case reg.RegionCode != "":
		return fmt.Sprintf("%s (region %d)", reg.RegionCode, id)
	}
	return fmt.Sprintf("region %d", id)
}

// portMappingSummary lists the port-mapping protocols the gateway offers,
// in Tailscale's words.
func portMappingSummary(r *netcheck.Report) string {
	if r.UPnP == nil && r.PMP == nil && r.PCP == nil {
		return "not checked"
	}
	var got []string
	for _, p := range []struct {
		name string
		v    *bool
	}{{"UPnP", r.UPnP}, {"NAT-PMP", r.PMP}, {"PCP", r.PCP}} {
		if p.v != nil && *p.v {
			got = append(got, p.name)
		}
	}
	if len(got) == 0 {
		return "none found"
	}
	return strings.Join(got, ", ")
}
