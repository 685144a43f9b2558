package interop

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// httpWant is what one request must get back. Only the listed headers are
// checked; body nil means "not checked" (the home page's HTML is not part
// of the contract).
type httpWant struct {
	status  int
	headers map[string]string // exact values
	absent  []string          // headers that must not be present
	body    *string
}

type httpCase struct {
	name, method, path string
	reqHeader          map[string]string
	want               httpWant
	// wantByServer overrides want for a server that deliberately differs.
	wantByServer map[serverKind]httpWant
}

func ptr[T any](v T) *T { return &v }

// browserHeaders are set by derper on the pages a browser might open.
var browserHeaders = map[string]string{
	"Strict-Transport-Security": "max-age=63072000; includeSubDomains",
	"Content-Security-Policy":   "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'self'; block-all-mixed-content; object-src 'none'",
	"X-Frame-Options":           "DENY",
	"X-Content-Type-Options":    "nosniff",
}

func withHeaders(extra map[string]string) map[string]string {
	m := map[string]string{}
	for k, v := range browserHeaders {
		m[k] = v
	}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

const noStoreCache = "no-cache, no-store, must-revalidate, no-transform, max-age=0"

var homePage = httpWant{status: 200, headers: withHeaders(map[string]string{"Content-Type": "text/html; charset=utf-8"})}

// probeCases covers one probe path; name is the path as a subtest name.
func probeCases(path, name string) []httpCase {
	ok := httpWant{status: 200, headers: map[string]string{"Access-Control-Allow-Origin": "*"}, body: ptr("")}
	return []httpCase{
		{name: name + "_get", method: "GET", path: path, want: ok},
		{name: name + "_head", method: "HEAD", path: path, want: ok},
		{name: name + "_post", method: "POST", path: path, want: httpWant{
			status:  405,
			absent:  []string{"Access-Control-Allow-Origin"},
			headers: map[string]string{"Content-Type": "text/plain; charset=utf-8"},
			body:    ptr("bogus probe method\n"),
		}},
	}
}

var httpCases = append([]httpCase{
	{name: "home", method: "GET", path: "/", want: homePage},
	{name: "unknown_path_is_home", method: "GET", path: "/no/such/page", want: homePage},
	{name: "derp_slash_is_home", method: "GET", path: "/derp/", want: homePage},
	{name: "robots", method: "GET", path: "/robots.txt", want: httpWant{
		status:  200,
		headers: withHeaders(map[string]string{"Content-Type": "text/plain; charset=utf-8"}),
		body:    ptr("User-agent: *\nDisallow: /\n"),
	}},
	{name: "generate_204_valid_challenge", method: "GET", path: "/generate_204",
		reqHeader: map[string]string{"X-Tailscale-Challenge": "ts_127.0.0.1"},
		want: httpWant{status: 204, body: ptr(""), headers: map[string]string{
			"Cache-Control":        noStoreCache,
			"X-Tailscale-Response": "response ts_127.0.0.1",
		}}},
	{name: "generate_204_invalid_challenge", method: "GET", path: "/generate_204",
		reqHeader: map[string]string{"X-Tailscale-Challenge": "no spaces/allowed"},
		want: httpWant{status: 204, body: ptr(""), headers: map[string]string{"Cache-Control": noStoreCache},
			absent: []string{"X-Tailscale-Response"}}},
	{name: "generate_204_overlong_challenge", method: "GET", path: "/generate_204",
		reqHeader: map[string]string{"X-Tailscale-Challenge": strings.Repeat("a", 65)},
		want: httpWant{status: 204, body: ptr(""), headers: map[string]string{"Cache-Control": noStoreCache},
			absent: []string{"X-Tailscale-Response"}}},
	{name: "generate_204_no_challenge", method: "GET", path: "/generate_204",
		want: httpWant{status: 204, body: ptr(""), headers: map[string]string{"Cache-Control": noStoreCache},
			absent: []string{"X-Tailscale-Response"}}},
	{name: "bootstrap_dns", method: "GET", path: "/bootstrap-dns",
		want: httpWant{status: 200, headers: withHeaders(map[string]string{"Content-Type": "application/json"}), body: ptr("")},
		wantByServer: map[serverKind]httpWant{
			// With no names configured derper sends an empty body, which
			// clients fail to decode as JSON; relayctl sends a valid empty
			// object (spec §4.3).
			relayctlServer: {status: 200, headers: withHeaders(map[string]string{"Content-Type": "application/json"}), body: ptr("{}")},
		}},
	{name: "derp_without_upgrade", method: "GET", path: "/derp", want: httpWant{
		status: 426,
		headers: map[string]string{
			"Content-Type":           "text/plain; charset=utf-8",
			"X-Content-Type-Options": "nosniff",
		},
		body: ptr("DERP requires connection upgrade\n"),
	}},
	{name: "derp_unknown_upgrade", method: "GET", path: "/derp",
		reqHeader: map[string]string{"Upgrade": "h2c", "Connection": "Upgrade"},
		want:      httpWant{status: 426, body: ptr("DERP requires connection upgrade\n")}},
	{name: "debug_from_loopback", method: "GET", path: "/debug/", want: httpWant{status: 200}},
	{name: "debug_forwarded", method: "GET", path: "/debug/",
		reqHeader: map[string]string{"X-Forwarded-For": "192.0.2.1"},
		want:      httpWant{status: 403, body: ptr("debug access denied\n")}},
}, append(probeCases("/derp/probe", "derp_probe"), probeCases("/derp/latency-check", "derp_latency_check")...)...)

// testHTTPEndpoints runs every httpCases request against one server.
func testHTTPEndpoints(t *testing.T, k serverKind) {
	s := startServer(t, k)
	client := &http.Client{
		Timeout: msgTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	for _, tc := range httpCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			want := tc.want
			if w, ok := tc.wantByServer[k]; ok {
				want = w
			}
			req, err := http.NewRequestWithContext(t.Context(), tc.method, s.url(tc.path), nil)
			if err != nil {
				t.Fatal(err)
			}
			for name, v := range tc.reqHeader {
				req.Header.Set(name, v)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatalf("%s %s: %v", tc.method, tc.path, err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatalf("reading body: %v", err)
			}
			if resp.StatusCode != want.status {
				t.Errorf("status %d, want %d (body %q)", resp.StatusCode, want.status, abbrevText(body))
			}
			for name, v := range want.headers {
				if got := resp.Header.Get(name); got != v {
					t.Errorf("header %s = %q, want %q", name, got, v)
				}
			}
			for _, name := range want.absent {
				if got, ok := resp.Header[http.CanonicalHeaderKey(name)]; ok {
					t.Errorf("header %s = %q, want it absent", name, got)
				}
			}
			if want.body != nil && string(body) != *want.body {
				t.Errorf("body %q, want %q", abbrevText(body), *want.body)
			}
		})
	}
}

func abbrevText(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "…"
	}
	return string(b)
}
