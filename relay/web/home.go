package web

import (
	"html/template"
	"net/http"
)

type homePage struct {
	Hostname    string
	Relaying    bool
	DebugAccess bool
}

var homeTemplate = template.Must(template.New("home").Parse(`<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>DERP relay{{with .Hostname}} {{.}}{{end}}</title></head>
<body>
<h1>DERP relay{{with .Hostname}} {{.}}{{end}}</h1>
<p>This node runs relayctl, a DERP relay for Tailscale clients.</p>
<p>Devices that cannot reach each other directly send their WireGuard packets through it; the traffic stays end-to-end encrypted and the relay cannot read it. It also answers STUN so devices can learn their public address.</p>
<p>There is nothing to browse here. To use this relay, add it to your tailnet's DERP map: see <a href="https://tailscale.com/kb/1118/custom-derp-servers">custom DERP servers</a>.</p>
{{if not .Relaying}}<p>Relaying is <b>disabled</b> on this node.</p>
{{end}}{{if .DebugAccess}}<p>Debug pages: <a href="/debug/">/debug/</a></p>
{{end}}</body>
</html>
`))

// newHomeHandler builds the handler for / (and every unmatched path) from
// the --home value.
func newHomeHandler(home, hostname string, relaying, debugHere bool) (http.Handler, error) {
	redirect, err := checkHomeFlag(home)
	if err != nil {
		return nil, err
	}
	switch {
	case redirect != nil:
		target := redirect.String()
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, target, http.StatusFound)
		}), nil
	case home == "blank":
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.WriteHeader(http.StatusOK)
		}), nil
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		// A failed write means the client went away; nothing to report.
		_ = homeTemplate.Execute(w, homePage{
			Hostname:    hostname,
			Relaying:    relaying,
			DebugAccess: debugHere && DebugAllowed(r),
		})
	}), nil
}
