package web

import (
	"net/http"
	"strings"
)

// Port80Handler serves the plain-HTTP port of a TLS relay, as derper does:
// /generate_204 for captive-portal checks, ACME HTTP-01 challenges (acme
// wraps the rest; nil when no ACME is in use), /debug through main (with
// its access rules), and a redirect to HTTPS for everything else. DERP is
// never served in the clear here.
func Port80Handler(main http.Handler, acme func(fallback http.Handler) http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/generate_204", ServeNoContent)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/debug") {
			main.ServeHTTP(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.Error(w, "Use HTTPS", http.StatusBadRequest)
			return
		}
		target := "https://" + r.Host + r.URL.RequestURI()
		if r.URL.Path == "/" && DebugAllowed(r) {
			target = "https://" + r.Host + "/debug/"
		}
		http.Redirect(w, r, target, http.StatusFound)
	})
	if acme != nil {
		return acme(mux)
	}
	return mux
}
