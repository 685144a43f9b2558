// Command tsnetcheck is Tailscale's netcheck as `tailscale netcheck` links
// it (net/netcheck with the portmapper and the captive-portal check), run
// against a DERP map file instead of tailscaled's map. It prints the
// report as one JSON object, with Tailscale's logs on stderr. The interop
// tests run it beside relayctl netcheck to compare the two.
//
// Usage: tsnetcheck DERPMAP.json
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"os"

	_ "tailscale.com/feature/captiveportal/netcheckhook" // the captive-portal check
	"tailscale.com/net/netcheck"
	"tailscale.com/net/netmon"
	"tailscale.com/net/portmapper"
	"tailscale.com/tailcfg"
	"tailscale.com/util/eventbus"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: tsnetcheck DERPMAP.json")
		os.Exit(2)
	}
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "tsnetcheck:", err)
		os.Exit(1)
	}
}

func run(mapPath string) error {
	raw, err := os.ReadFile(mapPath)
	if err != nil {
		return err
	}
	var dm tailcfg.DERPMap
	if err := json.Unmarshal(raw, &dm); err != nil {
		return fmt.Errorf("%s: %w", mapPath, err)
	}
	logf := log.New(os.Stderr, "", log.Lmicroseconds).Printf
	bus := eventbus.New()
	defer bus.Close()
	nm, err := netmon.New(bus, logf)
	if err != nil {
		return err
	}
	pm := portmapper.NewClient(portmapper.Config{EventBus: bus, Logf: logf, NetMon: nm})
	defer pm.Close()
	// Verbose keeps the captive-portal check running to the end, as
	// relayctl's always does.
	c := &netcheck.Client{NetMon: nm, PortMapper: pm, Logf: logf, Verbose: true}
	ctx := context.Background()
	if err := c.Standalone(ctx, ":0"); err != nil {
		return err
	}
	rep, err := c.GetReport(ctx, &dm, nil)
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(rep)
}
