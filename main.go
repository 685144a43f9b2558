// Command relayctl runs and looks after DERP relays for Tailscale clients.
package main

//go:generate go run ./cmd/gendocs

import (
	"os"

	"github.com/relayctl/relayctl/cmd"
)

func main() {
	os.Exit(cmd.Execute(os.Args[1:], cmd.SystemStreams()))
}
