package interop

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/relayctl/relayctl/internal/netnslab"
)

// netcheckFields are the report fields both implementations have.
var netcheckFields = []string{
	"UDP", "IPv4", "IPv6", "IPv4CanSend", "IPv6CanSend", "OSHasIPv6", "ICMPv4",
	"MappingVariesByDestIP", "UPnP", "PMP", "PCP", "PreferredDERP",
	"RegionLatency", "RegionV4Latency", "RegionV6Latency", "GlobalV4", "GlobalV6", "CaptivePortal",
}

// netcheckKnownDifferences are the fields in which relayctl differs from
// Tailscale by design, per scenario, with why (docs/netcheck.md lists
// them). Every other field must agree.
var netcheckKnownDifferences = map[string]map[string]string{
	"only_icmp_gets_through": {
		"RegionV4Latency": "relayctl files an ICMP/HTTPS latency under its family too",
		"CaptivePortal":   "no node answered /generate_204 (TCP is reset): relayctl says unknown (null), Tailscale false",
	},
	"udp_blocked": {
		"RegionV4Latency": "relayctl files an ICMP/HTTPS latency under its family too",
	},
	"udp_and_icmp_blocked": {
		"RegionLatency":   "the lab's relay serves plain HTTP: relayctl measures it with TS_DEBUG_USE_DERP_HTTP, Tailscale's fallback always dials TLS",
		"RegionV4Latency": "as RegionLatency",
		"PreferredDERP":   "as RegionLatency",
		"IPv4":            "as RegionLatency: relayctl's HTTPS round trip went over IPv4",
	},
}

// TestNetcheckMatchesTailscale runs relayctl netcheck and Tailscale's
// net/netcheck (tsnetcheck) side by side in netnslab's client namespace, through each
// scenario, and compares their reports field by field.
func TestNetcheckMatchesTailscale(t *testing.T) {
	relayctl := binaryFor(t, relayctlServer)
	tsnetcheck := toolBinary(t, "github.com/relayctl/relayctl/interop/tsnetcheck")
	lab := netnslab.New(t)
	dir := t.TempDir()
	mapPath := lab.StartServices(lab.Command(lab.Relay, append([]string{relayctl}, netnslab.RelayServeArgs(dir)...)...), dir)

	for _, sc := range netnslab.Scenarios {
		t.Run(sc.Name, func(t *testing.T) {
			lab.Apply(sc)
			// Both wait 250 ms for the gateway's port-mapping answers.
			netnslab.Retry(t, func() ([]string, string) {
				diffs, logs := compareNetchecks(t, lab, relayctl, tsnetcheck, mapPath, netcheckKnownDifferences[sc.Name])
				return diffs, "Tailscale's logs:\n" + logs
			})
		})
	}
}

// compareNetchecks runs relayctl netcheck and tsnetcheck at once (the
// scenario's timeouts are paid once) and lists the fields in which they
// differ other than as known; with Tailscale's logs.
func compareNetchecks(t *testing.T, lab *netnslab.Lab, relayctl, tsnetcheck, mapPath string, known map[string]string) ([]string, string) {
	t.Helper()
	var ours, theirs map[string]any
	var theirLogs string
	var wg sync.WaitGroup
	wg.Go(func() {
		cmd := lab.Command(lab.Client, relayctl, "netcheck", "--derp-map", mapPath, "--json")
		cmd.Env = append(os.Environ(), "TS_DEBUG_USE_DERP_HTTP=1")
		ours, _ = runReport(t, "relayctl netcheck", cmd)
	})
	wg.Go(func() {
		theirs, theirLogs = runReport(t, "Tailscale netcheck", lab.Command(lab.Client, tsnetcheck, mapPath))
	})
	wg.Wait()
	if ours == nil || theirs == nil {
		t.FailNow()
	}
	var diffs []string
	for _, f := range netcheckFields {
		a, b := reportValue(f, ours[f]), reportValue(f, theirs[f])
		switch {
		case a == b:
		case known[f] != "":
			t.Logf("%s: relayctl %s, Tailscale %s (known: %s)", f, a, b, known[f])
		default:
			diffs = append(diffs, fmt.Sprintf("%s: relayctl %s, Tailscale %s", f, a, b))
		}
	}
	return diffs, theirLogs
}

func runReport(t *testing.T, name string, cmd *exec.Cmd) (map[string]any, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Errorf("%s: %v\n%s", name, err, errOut.String())
		return nil, ""
	}
	var rep map[string]any
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Errorf("%s: report is not JSON: %v\n%s", name, err, out.String())
		return nil, ""
	}
	return rep, errOut.String()
}

// reportValue renders a field so that equal meanings compare equal:
// latencies as the set of regions measured (the values never match
// exactly), global addresses without their port (each run has its own
// socket), and an absent optional bool as null.
func reportValue(field string, v any) string {
	switch field {
	case "RegionLatency", "RegionV4Latency", "RegionV6Latency":
		m, _ := v.(map[string]any)
		var ids []string
		for id := range m {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		return "regions[" + strings.Join(ids, ",") + "]"
	case "GlobalV4", "GlobalV6":
		s, _ := v.(string)
		if i := strings.LastIndex(s, ":"); i >= 0 {
			s = s[:i]
		}
		return fmt.Sprintf("%q", s)
	}
	if v == nil {
		return "null"
	}
	return fmt.Sprint(v)
}
