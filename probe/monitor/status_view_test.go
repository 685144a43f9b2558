package monitor

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/relayctl/relayctl/probe/prober"
)

func TestSparklineSVG(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	at := func(ago time.Duration, lat time.Duration, st prober.Status) latencySample {
		return latencySample{at: now.Add(-ago), latency: lat, status: st}
	}
	tests := []struct {
		name    string
		samples []latencySample
		want    []string // substrings, in order
		empty   bool
	}{
		{name: "nothing", empty: true},
		{name: "skipped_only", samples: []latencySample{at(time.Minute, 0, prober.StatusSkip)}, empty: true},
		{
			name: "line_and_failure",
			samples: []latencySample{
				at(30*time.Minute, 10*time.Millisecond, prober.StatusOK),
				at(15*time.Minute, 20*time.Millisecond, prober.StatusWarn),
				at(5*time.Minute, 0, prober.StatusFail),
			},
			want: []string{
				`<svg class="spark" width="120" height="24"`,
				`<title>last hour: min 10.0 ms, median 20.0 ms, max 20.0 ms; 1 failed</title>`,
				`<rect class="spark-hour" width="120" height="24"/>`,
				`<line class="spark-fail" x1="108.3" y1="2" x2="108.3" y2="22"/>`,
				`<polyline class="spark-line" points="60.0,12.0 89.0,2.0"/>`,
				`</svg>`,
			},
		},
		{
			name:    "one_point_older_than_the_window_clamps_left",
			samples: []latencySample{at(2*time.Hour, 5*time.Millisecond, prober.StatusOK)},
			want:    []string{`<circle class="spark-line" cx="2.0" cy="2.0" r="1.5"/>`},
		},
		{
			name:    "failures_only",
			samples: []latencySample{at(time.Minute, 0, prober.StatusFail)},
			want:    []string{"<title>no passing result in the last hour; 1 failed</title>", `class="spark-fail"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(sparklineSVG(tt.samples, now))
			if tt.empty {
				if got != "" {
					t.Errorf("got %q, want nothing", got)
				}
				return
			}
			rest := got
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("SVG lacks %q (in order):\n%s", w, got)
				}
				rest = rest[i+len(w):]
			}
		})
	}
}

func TestLatencyWindowKeepsTheLastHourBounded(t *testing.T) {
	start := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	var w latencyWindow
	for i := range 90 { // one a minute for 90 minutes
		w.add(prober.Result{End: start.Add(time.Duration(i) * time.Minute), Latency: time.Millisecond, Status: prober.StatusOK})
	}
	if first := w.samples[0].at; first != start.Add(29*time.Minute) || len(w.samples) != 61 {
		t.Errorf("window holds %d samples from %v, want 61 from 12:29", len(w.samples), first)
	}
	var dense latencyWindow
	for i := range 2 * maxSparkSamples { // one a second: more than the cap within the hour
		dense.add(prober.Result{End: start.Add(time.Duration(i) * time.Second), Status: prober.StatusOK})
	}
	if len(dense.samples) != maxSparkSamples {
		t.Errorf("dense window holds %d samples, want the cap %d", len(dense.samples), maxSparkSamples)
	}
}

func TestCertDays(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	tests := []struct {
		left      time.Duration
		text, cls string
	}{
		{90 * day, "90 days", "ok"},
		{14*day + time.Hour, "14 days", "ok"},
		{13 * day, "13 days", "warn"},
		{7 * day, "7 days", "warn"},
		{6*day + 23*time.Hour, "6 days", "fail"},
		{day + time.Hour, "1 day", "fail"},
		{-time.Hour, "expired", "fail"},
	}
	for _, tt := range tests {
		text, cls := certDays(now, now.Add(tt.left), prober.DefaultCertWarnBefore)
		if text != tt.text || cls != tt.cls {
			t.Errorf("%v left: %q %q, want %q %q", tt.left, text, cls, tt.text, tt.cls)
		}
	}
	if text, cls := certDays(now, time.Time{}, prober.DefaultCertWarnBefore); text != "" || cls != "" {
		t.Errorf("no certificate: %q %q", text, cls)
	}
}

func TestStatusPageOverviewSparklineAndCertDays(t *testing.T) {
	opts := DefaultOptions()
	opts.Source, opts.Prober = "fleet.yaml", prober.New(prober.DefaultConfig())
	mon, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	result := func(region int, code, node string, c prober.Class, st prober.Status, lat time.Duration, expiry time.Time, end time.Time) prober.Result {
		return prober.Result{Name: fmt.Sprintf("%d/%s/%s", region, node, c), Region: region, RegionCode: code, Node: node, Class: c, Status: st, Latency: lat, CertExpiry: expiry, End: end}
	}
	for i := range 3 {
		end := now.Add(time.Duration(i-3) * time.Minute)
		mon.record([]prober.Result{
			result(900, "fra", "fra1", prober.ClassDERP, prober.StatusOK, time.Duration(i+1)*time.Millisecond, time.Time{}, end),
			result(900, "fra", "fra1", prober.ClassTLS, prober.StatusWarn, time.Millisecond, now.Add(10*24*time.Hour+time.Hour), end),
			result(900, "fra", "fra2", prober.ClassTLS, prober.StatusOK, time.Millisecond, now.Add(300*24*time.Hour+time.Hour), end),
			result(901, "sgp", "sgp1", prober.ClassDERP, prober.StatusFail, 0, time.Time{}, end),
		})
	}
	var buf bytes.Buffer
	if err := mon.writeStatusPage(&buf, now); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	for _, want := range []string{
		`<table class="overview">`,
		`<a href="#region-900">900 fra</a></td><td>2</td>`, `<td class="warn">warn</td><td>2 ok, 1 warn</td>`,
		`<a href="#region-901">901 sgp</a></td><td>1</td>`, `<td class="fail">fail</td><td>0 ok, 1 failed</td>`,
		`<h2 id="region-900">`,
		`<span class="days warn">10 days</span>`, `<span class="days ok">300 days</span>`,
		`<polyline class="spark-line" points=`, `; 3 failed</title>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("status page lacks %q", want)
		}
	}
	if strings.Index(page, `class="overview"`) > strings.Index(page, `<h2 id="region-900">`) {
		t.Error("the region overview is not at the top")
	}
}
