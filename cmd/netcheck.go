package cmd

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/relayctl/relayctl/internal/render"
	"github.com/relayctl/relayctl/probe"
)

// netcheckOptions are the settings of `relayctl netcheck`.
type netcheckOptions struct {
	DERPMap string
	JSON    bool

	streams IOStreams
}

func newNetcheckCmd(streams IOStreams, runF func(*netcheckOptions) error) *cobra.Command {
	o := &netcheckOptions{streams: streams}
	c := &cobra.Command{
		Use:   "netcheck --derp-map SRC",
		Short: "Show this host's view of the DERP map: UDP, public address, latency per region",
		Long: `Check the network as a Tailscale client would: whether UDP works, the public IPv4 and
IPv6 address and port STUN servers see, whether that mapping varies by destination
(a hard NAT), the latency to every region (STUN, or HTTPS /derp/latency-check when UDP
is blocked) and the preferred region (lowest latency × HomeParams.RegionScore).

--json prints Tailscale's netcheck report field names (UDP, IPv4, IPv6, GlobalV4,
GlobalV6, MappingVariesByDestIP, PreferredDERP, RegionLatency in nanoseconds keyed by
region ID, RegionV4Latency, RegionV6Latency).`,
		Example: `  relayctl netcheck --derp-map derpmap.json
  relayctl netcheck --derp-map https://controlplane.example.com/derpmap/default --json | jq .PreferredDERP`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.DERPMap == "" {
				return usageErrorf("--derp-map is required")
			}
			if runF != nil {
				return runF(o)
			}
			return runNetcheck(cmd.Context(), o)
		},
	}
	c.Flags().StringVar(&o.DERPMap, "derp-map", "", "DERP map (JSON, inventory, Tailscale policy file or headscale YAML): a file path, file:// URL or http(s):// URL (required)")
	c.Flags().BoolVar(&o.JSON, "json", false, "print one JSON object with Tailscale's netcheck field names")
	return c
}

func runNetcheck(ctx context.Context, o *netcheckOptions) error {
	m, err := loadDERPMapFlag(ctx, o.DERPMap)
	if err != nil {
		return err
	}
	plain, err := plainHTTPFromEnv()
	if err != nil {
		return err
	}
	progress := render.StartProgress(o.streams.ErrOut, render.IsTerminal(o.streams.ErrOut), "measuring…")
	rep, err := probe.Netcheck(ctx, m, probe.NetcheckOptions{PlainHTTP: plain})
	progress.Stop()
	if err != nil {
		return err
	}
	if o.JSON {
		enc := json.NewEncoder(o.streams.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	writeNetcheckReport(o.streams.Out, m, rep)
	return nil
}

// writeNetcheckReport prints the report in `tailscale netcheck`'s layout.
func writeNetcheckReport(w io.Writer, m *probe.DERPMap, r *probe.NetcheckReport) {
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
	fmt.Fprintf(w, "\t* PortMapping: not checked\n")
	switch reg := m.Regions[r.PreferredDERP]; {
	case r.PreferredDERP == 0 && len(r.RegionLatency) == 0:
		fmt.Fprintf(w, "\t* Nearest DERP: unknown (no response to latency probes)\n")
	case reg == nil:
		fmt.Fprintf(w, "\t* Nearest DERP: %d (region not found in map)\n", r.PreferredDERP)
	default:
		fmt.Fprintf(w, "\t* Nearest DERP: %s\n", reg.RegionName)
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
		fmt.Fprintf(w, "\t\t- %3s: %-7s (%s)\n", code, lat, reg.RegionName)
	}
}
