package web

import (
	"bytes"
	"io"
	"net/http"
	"strconv"

	"github.com/relayctl/relayctl/internal/metrics"
)

// MetricsHandler serves reg at /metrics (and 404 elsewhere) for the
// --metrics-addr listener, so scrapers need no access to /debug/. A nil reg
// serves an empty registry. Names follow Prometheus' conventions
// (metrics.Registry.WriteConventional); /debug/varz keeps derper's.
func MetricsHandler(reg *metrics.Registry) http.Handler {
	if reg == nil {
		reg = metrics.NewRegistry()
	}
	prom := prometheusHandler(reg.WriteConventional)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		prom(w, r)
	})
}

// prometheusHandler renders a registry (write) into a buffer first, so a
// scrape gets a Content-Length and never a half-written page.
func prometheusHandler(write func(io.Writer) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var buf bytes.Buffer
		if err := write(&buf); err != nil {
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
