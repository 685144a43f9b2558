package monitor

import (
	"fmt"
	"html/template"
	"io"
	"net/http"
	"slices"
	"time"

	"github.com/relayctl/relayctl/internal/metrics"
	"github.com/relayctl/relayctl/internal/render"
	"github.com/relayctl/relayctl/probe/prober"
)

// Handler serves the monitor's status page on "/", Prometheus metrics on
// "/metrics" and liveness on "/healthz".
func (m *Monitor) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if err := m.writeStatusPage(w, time.Now()); err != nil {
			m.logger.Debug("status page", "err", err)
		}
	})
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", metrics.ContentType)
		m.metrics.writePrometheus(w)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !m.healthy(time.Now()) {
			http.Error(w, "stale: no probe round finished recently", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok\n")
	})
	return mux
}

// statusPage is what the template renders.
type statusPage struct {
	Source    string
	Now       time.Time
	LastRound time.Time
	Rounds    int
	Interval  time.Duration
	MapErr    string
	MapErrAt  time.Time
	Summary   prober.Summary
	Overview  []regionSummary
	Regions   []statusRegion
	Failures  []prober.Result // newest first
}

type statusRegion struct {
	ID   int
	Code string
	Name string
	Rows []statusRow
}

type statusRow struct {
	Last      prober.Result
	Recent    []prober.Result
	Spark     template.HTML // latency over the last hour
	CertDays  string
	CertClass string
}

// writeStatusPage renders the HTML status page as of now.
func (m *Monitor) writeStatusPage(w io.Writer, now time.Time) error {
	return statusTemplate.Execute(w, m.snapshot(now))
}

func (m *Monitor) snapshot(now time.Time) statusPage {
	m.mu.Lock()
	defer m.mu.Unlock()
	page := statusPage{
		Source: m.opts.Source, Now: now, LastRound: m.lastRound, Rounds: m.rounds,
		Interval: m.opts.Interval, MapErr: m.mapErr, MapErrAt: m.mapErrAt,
	}
	var lasts []prober.Result
	regionAt := map[int]int{} // region ID → index in page.Regions
	for _, name := range m.order {
		h := m.probes[name]
		if h == nil {
			continue
		}
		lasts = append(lasts, h.last)
		i, ok := regionAt[h.last.Region]
		if !ok {
			reg := statusRegion{ID: h.last.Region, Code: h.last.RegionCode}
			if m.dm != nil && m.dm.Regions[h.last.Region] != nil {
				reg.Name = m.dm.Regions[h.last.Region].RegionName
			}
			i = len(page.Regions)
			regionAt[h.last.Region] = i
			page.Regions = append(page.Regions, reg)
		}
		row := statusRow{Last: h.last, Recent: slices.Clone(h.recent), Spark: sparklineSVG(h.hour.samples, now)}
		row.CertDays, row.CertClass = certDays(now, h.last.CertExpiry, m.opts.Prober.CertWarnBefore())
		page.Regions[i].Rows = append(page.Regions[i].Rows, row)
	}
	page.Summary = prober.Summarize(lasts)
	page.Overview = summarizeRegions(page.Regions)
	for i := len(m.failures) - 1; i >= 0; i-- {
		page.Failures = append(page.Failures, m.failures[i])
	}
	return page
}

var statusTemplate = template.Must(template.New("status").Funcs(template.FuncMap{
	"ms": func(d time.Duration) string {
		if d <= 0 {
			return ""
		}
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	},
	"ago": func(now, t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return now.Sub(t).Round(time.Second).String() + " ago"
	},
	"expiry": func(now, t time.Time) string {
		if t.IsZero() {
			return ""
		}
		left := t.Sub(now)
		if left <= 0 {
			return t.UTC().Format("2006-01-02") + " (expired)"
		}
		return fmt.Sprintf("%s (%s)", t.UTC().Format("2006-01-02"), render.Age(left))
	},
	"target": func(r prober.Result) string {
		if r.Peer != "" {
			return r.Node + " → " + r.Peer
		}
		return r.Node
	},
	"stamp": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
}).Parse(statusHTML))

const statusHTML = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="{{.Interval.Seconds}}">
<title>relayctl probe</title>
<style>
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin-bottom:1.5em}
th,td{padding:.25em .7em;text-align:left;border-bottom:1px solid #ddd;vertical-align:top;white-space:nowrap}
.detail,.err{white-space:normal}
th{background:#f4f4f4}
.ok{color:#17692b}.warn{color:#8a5d00}.fail{color:#b00020;font-weight:bold}.skip{color:#777}
.dot{display:inline-block;width:.6em;height:.6em;border-radius:50%;margin-right:1px}
.dot.ok{background:#2e9e4a}.dot.warn{background:#d39e00}.dot.fail{background:#d0021b}.dot.skip{background:#bbb}
.err{font-family:monospace;font-size:90%}
.spark{vertical-align:middle}.spark-hour{fill:#eef2f8}.spark-line{fill:none;stroke:#1f5fbf;stroke-width:1.2}circle.spark-line{fill:#1f5fbf}.spark-fail{stroke:#d0021b;stroke-width:1}
.days{font-weight:bold}
</style></head><body>
<h1>relayctl probe</h1>
<p>DERP map <code>{{.Source}}</code>. Last round {{ago .Now .LastRound}} ({{.Rounds}} rounds, every {{.Interval}}).
<span class="ok">{{.Summary.OK}} ok</span>, <span class="warn">{{.Summary.Warn}} warn</span>,
<span class="fail">{{.Summary.Fail}} failed</span>, <span class="skip">{{.Summary.Skip}} skipped</span>.</p>
{{if .Overview}}<table class="overview">
<tr><th>Region</th><th>Nodes</th><th>prober.Status</th><th>Checks</th></tr>
{{range .Overview}}<tr><td><a href="#region-{{.ID}}">{{.ID}}{{if .Code}} {{.Code}}{{end}}</a>{{if .Name}} — {{.Name}}{{end}}</td><td>{{.Nodes}}</td>
<td class="{{.Worst}}">{{.Worst}}</td><td>{{.Summary.OK}} ok{{if .Summary.Warn}}, {{.Summary.Warn}} warn{{end}}{{if .Summary.Fail}}, {{.Summary.Fail}} failed{{end}}{{if .Summary.Skip}}, {{.Summary.Skip}} skipped{{end}}</td></tr>
{{end}}</table>{{end}}
{{if .MapErr}}<p class="fail">DERP map load failed {{ago .Now .MapErrAt}}: <span class="err">{{.MapErr}}</span> (using the previous map)</p>{{end}}
{{range .Regions}}
<h2 id="region-{{.ID}}">Region {{.ID}}{{if .Code}} ({{.Code}}){{end}}{{if .Name}} — {{.Name}}{{end}}</h2>
<table>
<tr><th>Node</th><th>Check</th><th>prober.Status</th><th>Latency</th><th>Certificate expiry</th><th>Last run</th><th>Last hour</th><th>Recent</th><th>Detail / error</th></tr>
{{range .Rows}}{{$r := .Last}}
<tr id="{{$r.Name}}"><td>{{target $r}}</td><td>{{$r.Class}}</td><td class="{{$r.Status}}">{{$r.Status}}</td><td>{{ms $r.Latency}}</td>
<td>{{if .CertDays}}<span class="days {{.CertClass}}">{{.CertDays}}</span> {{end}}{{expiry $.Now $r.CertExpiry}}</td><td title="{{stamp $r.End}}">{{ago $.Now $r.End}}</td>
<td>{{.Spark}}</td>
<td>{{range .Recent}}<span class="dot {{.Status}}" title="{{stamp .End}} {{.Status}}{{if .Error}}: {{.Error}}{{end}}"></span>{{end}}</td>
<td class="detail">{{if $r.Error}}<span class="err">{{$r.Error}}</span>{{else}}{{$r.Detail}}{{end}}</td></tr>
{{end}}
</table>
{{end}}
<h2>Recent failures</h2>
{{if .Failures}}<table>
<tr><th>Time</th><th>prober.Probe</th><th>Error</th></tr>
{{range .Failures}}<tr><td>{{stamp .End}}</td><td>{{.Name}}</td><td class="err">{{.Error}}</td></tr>
{{end}}</table>{{else}}<p>None.</p>{{end}}
</body></html>
`
