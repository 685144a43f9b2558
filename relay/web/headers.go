package web

import "net/http"

// The headers derper sends with every page a browser might render, so that
// its pages cannot be framed, sniffed or downgraded to plain HTTP.
const (
	strictTransportSecurity = "max-age=63072000; includeSubDomains"
	contentSecurityPolicy   = "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'self'; block-all-mixed-content; object-src 'none'"
)

func addBrowserHeaders(h http.Header) {
	h.Set("Strict-Transport-Security", strictTransportSecurity)
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
}

func withBrowserHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		addBrowserHeaders(w.Header())
		next.ServeHTTP(w, r)
	})
}
