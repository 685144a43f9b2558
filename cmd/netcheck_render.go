package cmd

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/relayctl/relayctl/internal/derpmap"
	"github.com/relayctl/relayctl/probe/netcheck"
)

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

// writeNetcheckReport prints the report in `tailscale netcheck`'s layout.
func writeNetcheckReport(w io.Writer, m *derpmap.DERPMap, r *netcheck.Report) {
	fmt.Fprintf(w, "\nReport:\n")
	fmt.Fprintf(w, "\t* Time: %s\n", r.Now.Local().Format("2006-01-02 15:04:05.999999999Z07:00"))
	fmt.Fprintf(w, "\t* UDP: %v\n", r.UDP)
	writeNetcheckAddrs(w, r)
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
	writeNetcheckLatencies(w, m, r)
}

// writeNetcheckAddrs prints the public IPv4 and IPv6 lines.
func writeNetcheckAddrs(w io.Writer, r *netcheck.Report) {
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
}

// writeNetcheckLatencies prints every region of the map: measured ones
// first, fastest first, then the rest by ID.
func writeNetcheckLatencies(w io.Writer, m *derpmap.DERPMap, r *netcheck.Report) {
	fmt.Fprintf(w, "\t* DERP latency:\n")
	ids := m.RegionIDs()
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
		name := cmp.Or(reg.RegionName, "region "+strconv.Itoa(id))
		via := ""
		if m := r.RegionLatencyMethod[id]; m != "" {
			via = " via " + m
		}
		fmt.Fprintf(w, "\t\t- %3s: %-7s (%s)%s\n", reg.Label(), lat, name, via)
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
