package web

import (
	"bytes"
	"net/http"
	"strconv"

	"github.com/relayctl/relayctl/internal/metrics"
)

// MetricsHandler serves reg at /metrics (and 404 elsewhere) for the
// --metrics-addr listener, so scrapers need no access to /debug/. A nil reg
// serves an empty registry.
func MetricsHandler(reg *metrics.Registry) http.Handler {
	if reg == nil {
		reg = metrics.NewRegistry()
	}
	prom := prometheusHandler(reg)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		prom(w, r)
	})
}

// prometheusHandler renders reg into a buffer first, so a scrape gets a
// Content-Length and never a half-written page.
func prometheusHandler(reg *metrics.Registry) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var buf bytes.Buffer
		if err := reg.WritePrometheus(&buf); err != nil {
			http.Error(w, "rendering metrics: "+err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", metrics.ContentType)
		w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
		if r.Method != http.MethodHead {
			w.Write(buf.Bytes())
		}
	}
}
