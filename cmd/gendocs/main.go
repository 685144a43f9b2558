// Command gendocs regenerates completions/, docs/cli/ and docs/man/ from
// relayctl's command tree, and the generated sections of hand-written docs
// (cmd.DocSections). Run it with `go generate ./...` from the
// repository root.
package main

import (
	"fmt"
	"os"

	"github.com/relayctl/relayctl/cmd"
	"github.com/relayctl/relayctl/internal/gendocs"
)

func main() {
	if err := gendocs.Write(cmd.NewRootCmd(cmd.IOStreams{Out: os.Stdout, ErrOut: os.Stderr}), "."); err != nil {
		fmt.Fprintln(os.Stderr, "gendocs:", err)
		os.Exit(1)
	}
	for _, sec := range cmd.DocSections() {
		if err := (gendocs.Section{File: sec.File, Name: sec.Name, Body: sec.Body}).Write("."); err != nil {
			fmt.Fprintln(os.Stderr, "gendocs:", err)
			os.Exit(1)
		}
	}
}
