package web

import (
	"net/http"
)

// WithProbeHealth makes /derp/probe and /derp/latency-check on h answer
// 503 with health's error while it is not nil: on a TLS relay's plain-HTTP
// port, where they are reachable even while the relay has no certificate
// and every TLS handshake fails. While health is nil h answers them as
// before (derper redirects them to HTTPS), so a healthy relay is
// unchanged on the wire.
func WithProbeHealth(h http.Handler, health func() error) http.Handler {
	if health == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/derp/probe" || r.URL.Path == "/derp/latency-check" {
			if err := health(); err != nil {
				w.Header().Set("Access-Control-Allow-Origin", "*")
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}
