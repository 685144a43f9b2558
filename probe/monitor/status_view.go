package monitor

import (
	"fmt"
	"html/template"
	"slices"
	"strings"
	"time"

	"github.com/relayctl/relayctl/probe/prober"
)

// Sparkline geometry, in SVG user units (CSS pixels).
const (
	sparkWidth  = 120
	sparkHeight = 24
	sparkPad    = 2
)

// sparklineSVG draws a probe's latency over the sparkSpan before now as
// an inline SVG, so the page needs no JavaScript: a line through the
// passing results' latencies (scaled to the window's maximum) and a red
// tick for each failure, over a shaded box spanning the hour. It is empty when there is nothing to draw.
func sparklineSVG(samples []latencySample, now time.Time) template.HTML {
	start := now.Add(-sparkSpan)
	var lat []time.Duration
	var maxLat time.Duration
	failed := 0
	for _, s := range samples {
		switch {
		case s.status == prober.StatusFail:
			failed++
		case s.latency > 0:
			lat = append(lat, s.latency)
			maxLat = max(maxLat, s.latency)
		}
	}
	if len(lat) == 0 && failed == 0 {
		return ""
	}
	x := func(at time.Time) float64 {
		f := float64(at.Sub(start)) / float64(sparkSpan)
		return sparkPad + min(max(f, 0), 1)*(sparkWidth-2*sparkPad)
	}
	y := func(d time.Duration) float64 {
		return sparkHeight - sparkPad - float64(d)/float64(maxLat)*(sparkHeight-2*sparkPad)
	}
	var b strings.Builder
	title := "no passing result in the last hour"
	if len(lat) > 0 {
		sorted := slices.Sorted(slices.Values(lat))
		title = fmt.Sprintf("last hour: min %s, median %s, max %s", fmtMS(sorted[0]), fmtMS(sorted[len(sorted)/2]), fmtMS(sorted[len(sorted)-1]))
	}
	if failed > 0 {
		title += fmt.Sprintf("; %d failed", failed)
	}
	fmt.Fprintf(&b, `<svg class="spark" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="%s"><title>%s</title>`,
		sparkWidth, sparkHeight, sparkWidth, sparkHeight, title, title)
	// The shaded box is the whole hour, so a probe that started minutes ago
	// shows as a short line at the right of it rather than a stray tick.
	fmt.Fprintf(&b, `<rect class="spark-hour" width="%d" height="%d"/>`, sparkWidth, sparkHeight)
	var points [][2]float64
	for _, s := range samples {
		switch {
		case s.status == prober.StatusFail:
			fmt.Fprintf(&b, `<line class="spark-fail" x1="%.1f" y1="%d" x2="%.1f" y2="%d"/>`, x(s.at), sparkPad, x(s.at), sparkHeight-sparkPad)
		case s.latency > 0:
			points = append(points, [2]float64{x(s.at), y(s.latency)})
		}
	}
	switch len(points) {
	case 0:
	case 1:
		fmt.Fprintf(&b, `<circle class="spark-line" cx="%.1f" cy="%.1f" r="1.5"/>`, points[0][0], points[0][1])
	default:
		b.WriteString(`<polyline class="spark-line" points="`)
		for i, p := range points {
			if i > 0 {
				b.WriteByte(' ')
			}
			fmt.Fprintf(&b, "%.1f,%.1f", p[0], p[1])
		}
		b.WriteString(`"/>`)
	}
	b.WriteString(`</svg>`)
	// Only numbers and the fixed title above go into the markup.
	return template.HTML(b.String())
}

func fmtMS(d time.Duration) string {
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}

// certCritical is how close to expiry a certificate is shown in red; below
// the prober's CertWarnBefore it is amber.
const certCritical = 7 * 24 * time.Hour

// certDays is a TLS result's days left and the status class colouring
// them: fail when expired or within certCritical, warn within warnBefore,
// ok otherwise. Empty for a result without a certificate.
func certDays(now, expiry time.Time, warnBefore time.Duration) (text, class string) {
	if expiry.IsZero() {
		return "", ""
	}
	left := expiry.Sub(now)
	days := int(left / (24 * time.Hour))
	switch {
	case left <= 0:
		return "expired", string(prober.StatusFail)
	case left < certCritical:
		class = string(prober.StatusFail)
	case left < warnBefore:
		class = string(prober.StatusWarn)
	default:
		class = string(prober.StatusOK)
	}
	if days == 1 {
		return "1 day", class
	}
	return fmt.Sprintf("%d days", days), class
}

// regionSummary is one line of the status page's overview.
type regionSummary struct {
	ID      int
	Code    string
	Name    string
	Nodes   int
	Summary prober.Summary
	Worst   prober.Status // fail, warn or ok
}

func summarizeRegions(regions []statusRegion) []regionSummary {
	out := make([]regionSummary, 0, len(regions))
	for _, r := range regions {
		nodes := map[string]bool{}
		lasts := make([]prober.Result, 0, len(r.Rows))
		for _, row := range r.Rows {
			nodes[row.Last.Node] = true
			lasts = append(lasts, row.Last)
		}
		s := prober.Summarize(lasts)
		worst := prober.StatusOK
		switch {
		case s.Fail > 0:
			worst = prober.StatusFail
		case s.Warn > 0:
			worst = prober.StatusWarn
		}
		out = append(out, regionSummary{ID: r.ID, Code: r.Code, Name: r.Name, Nodes: len(nodes), Summary: s, Worst: worst})
	}
	return out
}
