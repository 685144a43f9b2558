package node

import (
	"fmt"
	"io"
)

// printSelfSignedNotice tells the operator, on stderr and clearly marked,
// how to trust the self-signed certificate serve just made.
func printSelfSignedNotice(w io.Writer, host string, snippet []byte) {
	fmt.Fprintf(w, "\n=== relayctl: self-signed certificate for %s ===\n", host)
	fmt.Fprintf(w, "Clients trust it only through its pin. Put this DERP map in your tailnet policy (derpMap):\n\n%s\n", snippet)
	fmt.Fprintf(w, "=== end of DERP map ===\n\n")
}
