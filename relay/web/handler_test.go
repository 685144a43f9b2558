package web

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestNewHandlerHomeFlag(t *testing.T) {
	tests := []struct {
		name, home string
		wantErr    bool
	}{
		{"builtin", "", false},
		{"blank", "blank", false},
		{"http-url", "http://example.com/", false},
		{"https-url", "https://example.com/about?x=1", false},
		{"blank-wrong-case", "Blank", true},
		{"bare-host", "example.com", true},
		{"ftp-url", "ftp://example.com/", true},
		{"url-without-host", "http://", true},
		{"url-with-empty-host", "https:///path", true},
		{"no-scheme", "://bad", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := NewHandler(Options{Home: tt.home})
			if tt.wantErr {
				if err == nil {
					h.Close()
					t.Fatalf("NewHandler(Home=%q) succeeded, want an error", tt.home)
				}
				if !strings.Contains(err.Error(), "--home") {
					t.Errorf("error %q does not name --home", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("NewHandler(Home=%q): %v", tt.home, err)
			}
			h.Close()
		})
	}
}

// derpStub stands in for the lead's DERP handler.
var derpStub = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	io.WriteString(w, "derp stub")
})

func TestRoutes(t *testing.T) {
	const cacheControl = "no-cache, no-store, must-revalidate, no-transform, max-age=0"
	long := strings.Repeat("a", 64)
	tests := []struct {
		name       string
		noDERP     bool
		method     string
		target     string
		header     http.Header
		wantStatus int
		wantBody   string            // exact, unless wantInBody is set
		wantInBody []string          // substrings
		notInBody  []string          // substrings that must be absent
		wantHeader map[string]string // "" means must be absent
		browser    bool
	}{
		{name: "derp", method: "GET", target: "/derp", wantStatus: 200, wantBody: "derp stub"},
		{name: "derp-disabled", noDERP: true, method: "GET", target: "/derp", wantStatus: 404, wantBody: "derp server disabled\n"},
		{name: "derp-subpath-is-home", method: "GET", target: "/derp/other", wantStatus: 200, wantInBody: []string{"relayctl"}, browser: true},

		{name: "probe-get", method: "GET", target: "/derp/probe", wantStatus: 200, wantHeader: map[string]string{"Access-Control-Allow-Origin": "*"}},
		{name: "probe-head", method: "HEAD", target: "/derp/probe", wantStatus: 200, wantHeader: map[string]string{"Access-Control-Allow-Origin": "*"}},
		{name: "probe-post", method: "POST", target: "/derp/probe", wantStatus: 405, wantBody: "bogus probe method\n", wantHeader: map[string]string{"Access-Control-Allow-Origin": ""}},
		{name: "latency-check-get", method: "GET", target: "/derp/latency-check", wantStatus: 200, wantHeader: map[string]string{"Access-Control-Allow-Origin": "*"}},
		{name: "latency-check-head", method: "HEAD", target: "/derp/latency-check", wantStatus: 200, wantHeader: map[string]string{"Access-Control-Allow-Origin": "*"}},
		{name: "latency-check-put", method: "PUT", target: "/derp/latency-check", wantStatus: 405, wantBody: "bogus probe method\n", wantHeader: map[string]string{"Access-Control-Allow-Origin": ""}},

		{name: "204-no-challenge", method: "GET", target: "/generate_204", wantStatus: 204,
			wantHeader: map[string]string{"Cache-Control": cacheControl, "X-Tailscale-Response": ""}},
		{name: "204-challenge", method: "GET", target: "/generate_204", header: http.Header{"X-Tailscale-Challenge": {"ts_1.2-3:x"}}, wantStatus: 204,
			wantHeader: map[string]string{"Cache-Control": cacheControl, "X-Tailscale-Response": "response ts_1.2-3:x"}},
		{name: "204-challenge-64", method: "POST", target: "/generate_204", header: http.Header{"X-Tailscale-Challenge": {long}}, wantStatus: 204,
			wantHeader: map[string]string{"Cache-Control": cacheControl, "X-Tailscale-Response": "response " + long}},
		{name: "204-challenge-65", method: "GET", target: "/generate_204", header: http.Header{"X-Tailscale-Challenge": {long + "a"}}, wantStatus: 204,
			wantHeader: map[string]string{"Cache-Control": cacheControl, "X-Tailscale-Response": ""}},
		{name: "204-challenge-space", method: "GET", target: "/generate_204", header: http.Header{"X-Tailscale-Challenge": {"a b"}}, wantStatus: 204,
			wantHeader: map[string]string{"X-Tailscale-Response": ""}},
		{name: "204-challenge-slash", method: "GET", target: "/generate_204", header: http.Header{"X-Tailscale-Challenge": {"a/b"}}, wantStatus: 204,
			wantHeader: map[string]string{"X-Tailscale-Response": ""}},
		{name: "204-challenge-non-ascii", method: "GET", target: "/generate_204", header: http.Header{"X-Tailscale-Challenge": {"é"}}, wantStatus: 204,
			wantHeader: map[string]string{"X-Tailscale-Response": ""}},

		{name: "bootstrap-dns", method: "GET", target: "/bootstrap-dns", wantStatus: 200, wantBody: "{}", browser: true,
			wantHeader: map[string]string{"Content-Type": "application/json", "Connection": "close"}},
		{name: "bootstrap-dns-q", method: "GET", target: "/bootstrap-dns?q=controlplane.tailscale.com", wantStatus: 200, wantBody: "{}", browser: true,
			wantHeader: map[string]string{"Content-Type": "application/json", "Connection": "close"}},

		{name: "robots", method: "GET", target: "/robots.txt", wantStatus: 200, wantBody: "User-agent: *\nDisallow: /\n", browser: true,
			wantHeader: map[string]string{"Content-Type": "text/plain; charset=utf-8"}},

		{name: "home", method: "GET", target: "/", wantStatus: 200, browser: true,
			wantInBody: []string{"<title>DERP relay relay1.example.net</title>", "relayctl", "Tailscale clients"},
			notInBody:  []string{"/debug/", "disabled"},
			wantHeader: map[string]string{"Content-Type": "text/html; charset=utf-8"}},
		{name: "home-disabled", noDERP: true, method: "GET", target: "/", wantStatus: 200, browser: true,
			wantInBody: []string{"Relaying is <b>disabled</b>"}},
		{name: "unknown-path", method: "GET", target: "/no/such/page", wantStatus: 200, browser: true, wantInBody: []string{"relayctl"}},
		{name: "unknown-path-post", method: "POST", target: "/submit", wantStatus: 200, browser: true, wantInBody: []string{"relayctl"}},

		{name: "debug-from-remote", method: "GET", target: "/debug/", wantStatus: 403, wantBody: "debug access denied\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := Options{DERP: derpStub, Hostname: "relay1.example.net"}
			if tt.noDERP {
				opts.DERP = nil
			}
			h := newTestHandler(t, opts)
			w := serve(h, tt.method, tt.target, remoteRemote, tt.header)
			if w.Code != tt.wantStatus {
				t.Fatalf("%s %s: status %d, want %d (body %q)", tt.method, tt.target, w.Code, tt.wantStatus, w.Body)
			}
			body := w.Body.String()
			if tt.wantInBody == nil && body != tt.wantBody {
				t.Errorf("body %q, want %q", body, tt.wantBody)
			}
			for _, s := range tt.wantInBody {
				if !strings.Contains(body, s) {
					t.Errorf("body lacks %q:\n%s", s, body)
				}
			}
			for _, s := range tt.notInBody {
				if strings.Contains(body, s) {
					t.Errorf("body contains %q:\n%s", s, body)
				}
			}
			for k, v := range tt.wantHeader {
				if got := w.Header().Get(k); got != v {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
			checkBrowserHeaders(t, w.Header(), tt.browser)
		})
	}
}

func TestHomeVariants(t *testing.T) {
	tests := []struct {
		name         string
		home         string
		remote       string
		wantStatus   int
		wantLocation string
		wantBody     func(string) bool
	}{
		{name: "builtin-remote-no-debug-link", home: "", remote: remoteRemote, wantStatus: 200,
			wantBody: func(b string) bool { return strings.Contains(b, "relayctl") && !strings.Contains(b, `href="/debug/"`) }},
		{name: "builtin-loopback-debug-link", home: "", remote: loopbackRemote, wantStatus: 200,
			wantBody: func(b string) bool { return strings.Contains(b, `href="/debug/"`) }},
		{name: "blank", home: "blank", remote: loopbackRemote, wantStatus: 200,
			wantBody: func(b string) bool { return b == "" }},
		{name: "redirect", home: "https://example.com/relay", remote: remoteRemote, wantStatus: 302, wantLocation: "https://example.com/relay"},
	}
	for _, tt := range tests {
		for _, path := range []string{"/", "/elsewhere"} {
			t.Run(tt.name+path, func(t *testing.T) {
				h := newTestHandler(t, Options{Home: tt.home, DERP: derpStub})
				w := serve(h, "GET", path, tt.remote, nil)
				if w.Code != tt.wantStatus {
					t.Fatalf("status %d, want %d", w.Code, tt.wantStatus)
				}
				checkBrowserHeaders(t, w.Header(), true)
				if got := w.Header().Get("Location"); got != tt.wantLocation {
					t.Errorf("Location = %q, want %q", got, tt.wantLocation)
				}
				if tt.wantStatus == 200 {
					if ct := w.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
						t.Errorf("Content-Type = %q, want text/html; charset=utf-8", ct)
					}
				}
				if tt.wantBody != nil && !tt.wantBody(w.Body.String()) {
					t.Errorf("unexpected body:\n%s", w.Body)
				}
			})
		}
	}
}

func TestHomeEscapesHostname(t *testing.T) {
	h := newTestHandler(t, Options{Hostname: `<script>x</script>`})
	w := serve(h, "GET", "/", remoteRemote, nil)
	if strings.Contains(w.Body.String(), "<script>") {
		t.Fatalf("hostname not escaped:\n%s", w.Body)
	}
}

// TestOverRealConnection checks what a recorder cannot: the hop-by-hop
// Connection header on the wire, and that debug access follows the real
// peer address of a loopback connection.
func TestOverRealConnection(t *testing.T) {
	srv := newLoopbackServer(t, newTestHandler(t, Options{DERP: derpStub}))
	tests := []struct {
		name       string
		path       string
		header     http.Header
		wantStatus int
		wantClose  bool
	}{
		{name: "bootstrap-dns-closes", path: "/bootstrap-dns", wantStatus: 200, wantClose: true},
		{name: "probe-keeps-alive", path: "/derp/probe", wantStatus: 200},
		{name: "debug-from-loopback", path: "/debug/", wantStatus: 200},
		{name: "debug-forwarded", path: "/debug/", header: http.Header{"X-Forwarded-For": {"127.0.0.1"}}, wantStatus: 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), "GET", srv.URL+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header = tt.header.Clone()
			if req.Header == nil {
				req.Header = http.Header{}
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			readAll(t, resp.Body)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if resp.Close != tt.wantClose {
				t.Errorf("response Close = %v, want %v", resp.Close, tt.wantClose)
			}
		})
	}
}
