package cmd

import (
	"strings"

	"github.com/relayctl/relayctl/probe/prober"
)

// probeHints explain TLS failures whose bare message does not say what
// is wrong with the relay.
var probeHints = []struct{ symptom, hint string }{
	// crypto/tls on the relay sends "internal error" when it has no
	// certificate to present: relayctl serve while its ACME CA has not
	// issued one (derper alike).
	{"tls: internal error", "certificate unavailable: the relay has no certificate to offer (its ACME CA has not issued one?); its log says why, and so does http://HOST/derp/probe on its plain-HTTP port"},
	// An HTTP server answered the TLS ClientHello.
	{"first record does not look like a TLS handshake", "the relay speaks plain HTTP (serve --certmode none or --dev): probe it with TS_DEBUG_USE_DERP_HTTP=1 in the environment (Tailscale clients need the same), or give it a certificate"},
	{"server gave HTTP response to HTTPS client", "the relay speaks plain HTTP (serve --certmode none or --dev): probe it with TS_DEBUG_USE_DERP_HTTP=1 in the environment (Tailscale clients need the same), or give it a certificate"},
}

// withHints adds the hint for each result's error, where one applies.
func withHints(results []prober.Result) []prober.Result {
	for i, r := range results {
		for _, h := range probeHints {
			if strings.Contains(r.Error, h.symptom) {
				results[i].Error = h.hint + " (" + r.Error + ")"
				break
			}
		}
	}
	return results
}
