package web

import (
	"html/template"
	"io"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime"
	"strings"

	"github.com/relayctl/relayctl/internal/logging"
	"github.com/relayctl/relayctl/internal/metrics"
)

type debugLink struct{ Path, Description string }

// debugLinks are the pages listed on the /debug/ index.
var debugLinks = []debugLink{
	{"/debug/varz", "metrics, Prometheus text"},
	{"/debug/metrics", "the same metrics"},
	{"/debug/pprof/", "Go profiles"},
	{"/debug/gc", "force a garbage collection"},
}

var debugIndexTemplate = template.Must(template.New("debug").Parse(`<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>relayctl debug</title></head>
<body>
<h1>relayctl debug</h1>
<ul>
{{range .Info}}<li><b>{{.Key}}:</b> {{.Value}}</li>
{{end}}{{range .Links}}<li><a href="{{.Path}}">{{.Path}}</a> ({{.Description}})</li>
{{end}}</ul>
</body>
</html>
`))

// newDebugHandler serves the /debug/ subtree from its own mux (profiling
// handlers included, never via http.DefaultServeMux), behind the access
// check.
func newDebugHandler(reg *metrics.Registry, info func() []KeyValue) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/{$}", func(w http.ResponseWriter, r *http.Request) {
		var kvs []KeyValue
		if info != nil {
			kvs = info()
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = debugIndexTemplate.Execute(w, struct {
			Info  []KeyValue
			Links []debugLink
		}{kvs, debugLinks})
	})
	prom := prometheusHandler(reg.WritePrometheus)
	mux.Handle("/debug/varz", prom)
	mux.Handle("/debug/metrics", prom)
	mux.HandleFunc("/debug/pprof/", pprof.Index) // also serves named profiles
	mux.HandleFunc("/debug/pprof/cmdline", serveCmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/debug/gc", serveGC)
	mux.Handle("/debug/", http.NotFoundHandler())

	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !DebugAllowed(r) {
			http.Error(w, "debug access denied", http.StatusForbidden)
			return
		}
		addBrowserHeaders(w.Header())
		mux.ServeHTTP(w, r)
	})
}

func serveGC(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, "running GC...\n")
	// Flushed first so that a slow collection shows as progress.
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	runtime.GC()
	io.WriteString(w, "Done.\n")
}

// serveCmdline is pprof's cmdline page (arguments NUL-separated) with
// every URL's credentials and query redacted: a webhook token given on
// the command line must not be one debug request away.
func serveCmdline(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, strings.Join(logging.RedactArgs(os.Args), "\x00"))
}
