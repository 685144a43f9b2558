// Command gendoc refreshes the derper flag table of the migration guide
// (its one argument) from the table in package derperflags.
package main

import (
	"fmt"
	"os"

	"github.com/relayctl/relayctl/internal/derperflags"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: gendoc GUIDE.md")
		os.Exit(2)
	}
	doc, err := os.ReadFile(os.Args[1])
	if err == nil {
		doc, err = derperflags.SpliceGuide(doc)
	}
	if err == nil {
		err = os.WriteFile(os.Args[1], doc, 0o644)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "gendoc %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}
