package web

import (
	"net/http"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/relayctl/relayctl/internal/metrics"
)

func TestDebugAccess(t *testing.T) {
	tests := []struct {
		name    string
		remote  string
		host    string
		header  http.Header
		allowed bool
	}{
		{name: "ipv4-loopback", remote: "127.0.0.1:5000", allowed: true},
		{name: "ipv4-loopback-other", remote: "127.1.2.3:5000", allowed: true},
		{name: "ipv6-loopback", remote: "[::1]:5000", allowed: true},
		{name: "ipv4-mapped-loopback", remote: "[::ffff:127.0.0.1]:5000", allowed: true},
		// DNS rebinding: a browser sends the attacker's name as Host.
		{name: "loopback-dns-name-host", remote: "127.0.0.1:5000", host: "rebind.attacker.example", allowed: false},
		{name: "loopback-dns-name-host-port", remote: "127.0.0.1:5000", host: "relay.example.net:3340", allowed: false},
		{name: "loopback-ip-host", remote: "127.0.0.1:5000", host: "127.0.0.1:3340", allowed: true},
		{name: "loopback-ipv6-host", remote: "[::1]:5000", host: "[::1]:3340", allowed: true},
		{name: "loopback-public-ip-host", remote: "127.0.0.1:5000", host: "192.0.2.1", allowed: true},
		{name: "loopback-localhost-host", remote: "127.0.0.1:5000", host: "localhost", allowed: true},
		{name: "documentation-ip", remote: "192.0.2.10:5000"},
		{name: "private-ip", remote: "10.0.0.1:5000"},
		{name: "tailscale-ip", remote: "100.64.0.1:5000"},
		{name: "ipv6-global", remote: "[2001:db8::1]:5000"},
		{name: "unspecified", remote: "0.0.0.0:5000"},
		{name: "no-port", remote: "127.0.0.1"},
		{name: "garbage", remote: "not-an-address:1"},
		{name: "empty", remote: ""},
		{name: "remote-host-localhost", remote: "192.0.2.10:5000", host: "localhost"},
		{name: "remote-host-loopback-ip", remote: "192.0.2.10:5000", host: "127.0.0.1"},
		{name: "remote-claims-forwarded-loopback", remote: "192.0.2.10:5000", header: http.Header{"X-Forwarded-For": {"127.0.0.1"}}},
		{name: "loopback-x-forwarded-for", remote: "127.0.0.1:5000", header: http.Header{"X-Forwarded-For": {"127.0.0.1"}}},
		{name: "loopback-empty-x-forwarded-for", remote: "127.0.0.1:5000", header: http.Header{"X-Forwarded-For": {""}}},
		{name: "loopback-forwarded", remote: "127.0.0.1:5000", header: http.Header{"Forwarded": {"for=192.0.2.10"}}},
		{name: "loopback-x-real-ip", remote: "127.0.0.1:5000", header: http.Header{"X-Real-Ip": {"192.0.2.10"}}},
	}
	h := newTestHandler(t, Options{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.host == "" {
				tt.host = "localhost:3340"
			}
			r, _ := http.NewRequest("GET", "http://relay/debug/", nil)
			r.RemoteAddr = tt.remote
			r.Host = tt.host
			for k, vs := range tt.header {
				r.Header[k] = vs
			}
			tt.header = tt.header.Clone()
			if tt.header == nil {
				tt.header = http.Header{}
			}
			tt.header.Set("Host", tt.host)
			if got := DebugAllowed(r); got != tt.allowed {
				t.Errorf("DebugAllowed = %v, want %v", got, tt.allowed)
			}
			for _, path := range []string{"/debug/", "/debug/varz", "/debug/pprof/cmdline", "/debug/gc", "/debug/nope"} {
				w := serve(h, "GET", path, tt.remote, tt.header)
				denied := w.Code == http.StatusForbidden
				if denied == tt.allowed {
					t.Errorf("GET %s: status %d, allowed %v", path, w.Code, tt.allowed)
				}
				if denied && w.Body.String() != "debug access denied\n" {
					t.Errorf("GET %s: denial body %q", path, w.Body)
				}
			}
		})
	}
}

func TestDebugPages(t *testing.T) {
	reg := metrics.NewRegistry()
	reg.Counter("derp_accepts", "").Add(7)
	h := newTestHandler(t, Options{
		Metrics: reg,
		DebugInfo: func() []KeyValue {
			return []KeyValue{{"Uptime", "1h2m"}, {"Mesh key", "false"}, {"Note", "<b>escaped</b>"}}
		},
	})
	tests := []struct {
		name, target string
		wantStatus   int
		wantType     string
		wantInBody   []string
		notInBody    []string
	}{
		{name: "index", target: "/debug/", wantStatus: 200, wantType: "text/html; charset=utf-8",
			wantInBody: []string{"<title>relayctl debug</title>", "<b>Uptime:</b> 1h2m", "<b>Mesh key:</b> false",
				"&lt;b&gt;escaped&lt;/b&gt;", `href="/debug/varz"`, `href="/debug/metrics"`, `href="/debug/pprof/"`, `href="/debug/gc"`},
			notInBody: []string{"<b>escaped</b>"}},
		{name: "varz", target: "/debug/varz", wantStatus: 200, wantType: metrics.ContentType,
			wantInBody: []string{"# TYPE derp_accepts counter\nderp_accepts 7\n", "# TYPE goroutines gauge\n", "bootstrap_dns_requests 0\n"}},
		{name: "metrics", target: "/debug/metrics", wantStatus: 200, wantType: metrics.ContentType,
			wantInBody: []string{"derp_accepts 7\n"}},
		{name: "pprof-index", target: "/debug/pprof/", wantStatus: 200, wantInBody: []string{"goroutine", "heap"}},
		{name: "pprof-goroutine", target: "/debug/pprof/goroutine?debug=1", wantStatus: 200, wantInBody: []string{"goroutine profile:"}},
		{name: "pprof-heap", target: "/debug/pprof/heap?debug=1", wantStatus: 200, wantInBody: []string{"heap profile:"}},
		{name: "pprof-cmdline", target: "/debug/pprof/cmdline", wantStatus: 200, wantInBody: []string{os.Args[0]}},
		{name: "pprof-symbol", target: "/debug/pprof/symbol", wantStatus: 200, wantInBody: []string{"num_symbols:"}},
		{name: "pprof-trace", target: "/debug/pprof/trace?seconds=0.01", wantStatus: 200, wantType: "application/octet-stream"},
		{name: "pprof-profile", target: "/debug/pprof/profile?seconds=1", wantStatus: 200, wantType: "application/octet-stream"},
		{name: "pprof-unknown-profile", target: "/debug/pprof/nosuchprofile", wantStatus: 404},
		{name: "gc", target: "/debug/gc", wantStatus: 200, wantInBody: []string{"running GC...\nDone.\n"}},
		{name: "unknown", target: "/debug/nope", wantStatus: 404},
		{name: "no-slash-redirects", target: "/debug", wantStatus: http.StatusTemporaryRedirect},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := serve(h, "GET", tt.target, loopbackRemote, nil)
			if w.Code != tt.wantStatus {
				t.Fatalf("GET %s: status %d, want %d (body %.200q)", tt.target, w.Code, tt.wantStatus, w.Body)
			}
			if tt.wantType != "" {
				if got := w.Header().Get("Content-Type"); got != tt.wantType {
					t.Errorf("Content-Type = %q, want %q", got, tt.wantType)
				}
			}
			body := w.Body.String()
			for _, s := range tt.wantInBody {
				if !strings.Contains(body, s) {
					t.Errorf("body lacks %q:\n%.2000s", s, body)
				}
			}
			for _, s := range tt.notInBody {
				if strings.Contains(body, s) {
					t.Errorf("body contains %q", s)
				}
			}
			if tt.wantStatus == 200 {
				checkBrowserHeaders(t, w.Header(), true)
			}
		})
	}
}

func TestMetricsHandler(t *testing.T) {
	reg := metrics.NewRegistry()
	reg.Gauge("derp_current_connections", "").Set(3)
	h := MetricsHandler(reg)
	tests := []struct {
		method, target string
		wantStatus     int
		wantBody       string
	}{
		{"GET", "/metrics", 200, "# TYPE derp_current_connections gauge\nderp_current_connections 3\n"},
		{"HEAD", "/metrics", 200, ""},
		{"GET", "/", 404, "404 page not found\n"},
		{"GET", "/debug/varz", 404, "404 page not found\n"},
		{"GET", "/metrics/extra", 404, "404 page not found\n"},
	}
	for _, tt := range tests {
		t.Run(tt.method+tt.target, func(t *testing.T) {
			w := serve(h, tt.method, tt.target, remoteRemote, nil)
			if w.Code != tt.wantStatus || w.Body.String() != tt.wantBody {
				t.Fatalf("status %d body %q, want %d %q", w.Code, w.Body, tt.wantStatus, tt.wantBody)
			}
			if tt.wantStatus == 200 && w.Header().Get("Content-Type") != metrics.ContentType {
				t.Errorf("Content-Type = %q, want %q", w.Header().Get("Content-Type"), metrics.ContentType)
			}
		})
	}
}

func TestProcessMetrics(t *testing.T) {
	reg := metrics.NewRegistry()
	newTestHandler(t, Options{Metrics: reg})
	page := scrape(t, reg)
	want := []string{
		"# TYPE process_start_unix_time gauge\nprocess_start_unix_time ",
		"# TYPE uptime_sec counter\nuptime_sec ",
		"# TYPE goroutines gauge\ngoroutines ",
		`go_version{version="` + runtime.Version() + `"} 1`,
	}
	if _, err := os.Stat(fdDir); err == nil {
		want = append(want, "# TYPE derp_current_file_descriptors gauge\nderp_current_file_descriptors ")
		if n := countOpenFiles(); n < 3 {
			t.Errorf("countOpenFiles() = %d, want at least stdin, stdout, stderr", n)
		}
	}
	for _, s := range want {
		if !strings.Contains(page, s) {
			t.Errorf("metrics lack %q:\n%s", s, page)
		}
	}
}

// A family someone else registered first, with another type, is left
// alone instead of panicking.
func TestProcessMetricsKeepExisting(t *testing.T) {
	reg := metrics.NewRegistry()
	reg.Counter("goroutines", "").Add(5)
	reg.Gauge("uptime_sec", "").Set(9)
	newTestHandler(t, Options{Metrics: reg})
	newTestHandler(t, Options{Metrics: reg}) // a second handler on the same registry
	page := scrape(t, reg)
	for _, s := range []string{"# TYPE goroutines counter\ngoroutines 5\n", "# TYPE uptime_sec gauge\nuptime_sec 9\n"} {
		if !strings.Contains(page, s) {
			t.Errorf("metrics lack %q:\n%s", s, page)
		}
	}
}

// TestDebugCmdlineRedacted: /debug/pprof/cmdline shows the command line
// without URL credentials or query.
func TestDebugCmdlineRedacted(t *testing.T) {
	saved := os.Args
	t.Cleanup(func() { os.Args = saved })
	os.Args = []string{"relayctl", "serve", "--verify-client-url", "https://u:pw@admit.example/v?token=s3cret"}
	h := newTestHandler(t, Options{})
	w := serve(h, "GET", "/debug/pprof/cmdline", loopbackRemote, nil)
	if w.Code != 200 {
		t.Fatalf("status %d", w.Code)
	}
	want := "relayctl\x00serve\x00--verify-client-url\x00https://admit.example/v?<redacted>"
	if w.Body.String() != want {
		t.Fatalf("cmdline %q, want %q", w.Body.String(), want)
	}
}

// TestDebugElsewhere: with DebugElsewhere the main handler has no /debug/
// (nor a link to it), and DebugHandler serves it with the usual checks.
func TestDebugElsewhere(t *testing.T) {
	h := newTestHandler(t, Options{DebugElsewhere: true})
	for _, path := range []string{"/debug/", "/debug/varz", "/debug/pprof/cmdline"} {
		if w := serve(h, "GET", path, loopbackRemote, nil); w.Code != http.StatusNotFound {
			t.Errorf("main handler GET %s from loopback: status %d, want 404", path, w.Code)
		}
	}
	if w := serve(h, "GET", "/", loopbackRemote, nil); strings.Contains(w.Body.String(), "/debug/") {
		t.Errorf("home page links /debug/:\n%s", w.Body)
	}
	dbg := h.DebugHandler()
	if w := serve(dbg, "GET", "/debug/varz", loopbackRemote, nil); w.Code != http.StatusOK {
		t.Errorf("debug handler GET /debug/varz from loopback: status %d, want 200", w.Code)
	}
	if w := serve(dbg, "GET", "/debug/varz", remoteRemote, nil); w.Code != http.StatusForbidden {
		t.Errorf("debug handler GET /debug/varz from a remote address: status %d, want 403", w.Code)
	}
}
