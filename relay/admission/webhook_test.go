package admission

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relayctl/relayctl/internal/metrics"
	"github.com/relayctl/relayctl/relay/key"
)

// recordedRequest is what the admission server saw.
type recordedRequest struct {
	method      string
	body        []byte
	contentType []string
}

type webhookServer struct {
	*httptest.Server
	mu   sync.Mutex
	seen []recordedRequest
}

func newWebhookServer(t *testing.T, h http.HandlerFunc) *webhookServer {
	ws := &webhookServer{}
	ws.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ws.mu.Lock()
		ws.seen = append(ws.seen, recordedRequest{r.Method, body, r.Header.Values("Content-Type")})
		ws.mu.Unlock()
		h(w, r)
	}))
	t.Cleanup(ws.Close)
	return ws
}

func (ws *webhookServer) requests() []recordedRequest {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	return append([]recordedRequest(nil), ws.seen...)
}

func reply(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

// hang answers only when the client gives up.
func hang(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }

func TestWebhookDecisions(t *testing.T) {
	k := key.NewNode().Public()
	req := Request{Key: k, Source: netip.MustParseAddr("192.0.2.7")}
	tests := []struct {
		name       string
		handler    http.HandlerFunc
		failOpen   bool
		want       Result
		wantReason string
	}{
		{"allow", reply(200, `{"Allow":true}`), false, Allow, ""},
		{"allow_lowercase_key", reply(200, `{"allow":true}`), false, Allow, ""},
		{"allow_with_trailing_data", reply(200, `{"Allow":true} trailing`), false, Allow, ""},
		{"deny", reply(200, `{"Allow":false}`), true, Deny, "admission controller: " + k.String() + "/192.0.2.7 not allowed"},
		{"deny_empty_object", reply(200, `{}`), true, Deny, "not allowed"},
		{"non_200_rejects_even_fail_open", reply(503, `{"Allow":true}`), true, Error, "admission controller: 503 Service Unavailable"},
		{"redirect_loop_is_transport_error", nil, false, Unreachable, "stopped after 10 redirects"},
		{"bad_json_rejects_even_fail_open", reply(200, `Allow: yes`), true, Error, "admission controller reply"},
		{"reply_over_4k_is_cut", reply(200, `{"Allow":true,"Pad":"`+strings.Repeat("x", 5000)+`"}`), true, Error, "unexpected EOF"},
		// A webhook that does not answer in time is busy, not down: a
		// flood of clients can make it so, so fail-open must not apply.
		{"timeout_rejects_even_fail_open", hang, true, Overloaded, "admission controller overloaded: no answer within 200ms"},
		{"timeout_fail_closed", hang, false, Overloaded, "context deadline exceeded"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.handler
			var ws *webhookServer
			if h == nil {
				h = func(w http.ResponseWriter, r *http.Request) {
					http.Redirect(w, r, ws.URL+"/again", http.StatusTemporaryRedirect)
				}
			}
			ws = newWebhookServer(t, h)
			wh := NewWebhook(ws.URL, WebhookOptions{FailOpen: tc.failOpen, Timeout: 200 * time.Millisecond})
			d := wh.Check(t.Context(), req)
			if d.Result != tc.want {
				t.Fatalf("result %q (reason %v), want %q", d.Result, d.Reason, tc.want)
			}
			if tc.wantReason == "" {
				if d.Reason != nil {
					t.Fatalf("reason %v, want none", d.Reason)
				}
				return
			}
			if d.Reason == nil || !strings.Contains(d.Reason.Error(), tc.wantReason) {
				t.Fatalf("reason %v, want it to contain %q", d.Reason, tc.wantReason)
			}
		})
	}
}

func TestWebhookConnectRefused(t *testing.T) {
	url := refusedURL(t)
	k := key.NewNode().Public()
	for _, failOpen := range []bool{true, false} {
		d := NewWebhook(url, WebhookOptions{FailOpen: failOpen}).Check(t.Context(), Request{Key: k})
		want := map[bool]Result{true: FailOpen, false: Unreachable}[failOpen]
		if d.Result != want || d.Reason == nil {
			t.Errorf("fail-open %v: got %q (%v), want %q with a reason", failOpen, d.Result, d.Reason, want)
		}
	}
}

func TestWebhookRequestBody(t *testing.T) {
	k := key.NewNode().Public()
	tests := []struct {
		name   string
		source netip.Addr
		want   string
	}{
		{"ipv4", netip.MustParseAddr("192.0.2.7"), `{"NodePublic":"` + k.String() + `","Source":"192.0.2.7"}`},
		{"ipv4_mapped_shown_as_ipv4", netip.MustParseAddr("::ffff:192.0.2.7"), `{"NodePublic":"` + k.String() + `","Source":"192.0.2.7"}`},
		{"ipv6", netip.MustParseAddr("2001:db8::1"), `{"NodePublic":"` + k.String() + `","Source":"2001:db8::1"}`},
		{"unknown_source", netip.Addr{}, `{"NodePublic":"` + k.String() + `","Source":""}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ws := newWebhookServer(t, reply(200, `{"Allow":true}`))
			if d := NewWebhook(ws.URL, WebhookOptions{}).Check(t.Context(), Request{Key: k, Source: tc.source}); d.Result != Allow {
				t.Fatalf("result %q (%v)", d.Result, d.Reason)
			}
			reqs := ws.requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1", len(reqs))
			}
			got := reqs[0]
			if got.method != http.MethodPost {
				t.Errorf("method %s, want POST", got.method)
			}
			if !bytes.Equal(got.body, []byte(tc.want)) {
				t.Errorf("body\n%s\nwant\n%s", got.body, tc.want)
			}
			if len(got.contentType) != 0 {
				t.Errorf("Content-Type %q sent; derper sends none", got.contentType)
			}
		})
	}
}

// TestWebhookFailOpenLogged runs the webhook through a chain: a fail-open
// admission (the webhook refuses connections) is logged and counted, a
// fail-closed one rejects.
func TestWebhookFailOpenLogged(t *testing.T) {
	url := refusedURL(t) + "?token=s3cret"
	k := key.NewNode().Public()
	for _, failOpen := range []bool{true, false} {
		var logs bytes.Buffer
		reg := metrics.NewRegistry()
		chain := NewChain(slog.New(slog.NewTextHandler(&logs, nil)), reg,
			NewWebhook(url, WebhookOptions{FailOpen: failOpen, Timeout: 100 * time.Millisecond}))
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		err := chain.Admit(ctx, Request{Key: k})
		cancel()
		if failOpen {
			if err != nil {
				t.Fatalf("fail-open: %v, want admitted", err)
			}
			mustContain(t, logs.String(), "admission controller unreachable; allowing client", k.String())
			mustContain(t, promText(t, reg), `relayctl_admission_decisions{check="webhook",result="fail_open"} 1`)
		} else {
			if err == nil {
				t.Fatal("fail-closed: admitted, want rejected")
			}
			mustContain(t, logs.String(), "client "+k.String()+" rejected: admission controller unreachable")
			mustContain(t, promText(t, reg), `relayctl_admission_decisions{check="webhook",result="unreachable"} 1`)
		}
		if strings.Contains(logs.String(), "s3cret") {
			t.Fatalf("the webhook URL's query token was logged:\n%s", logs.String())
		}
	}
}

// refusedURL is a loopback URL where nothing listens.
func refusedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String() + "/admit"
	ln.Close()
	return url
}

func promText(t *testing.T, reg *metrics.Registry) string {
	t.Helper()
	var b bytes.Buffer
	if err := reg.WritePrometheus(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func mustContain(t *testing.T, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Fatalf("missing %q in:\n%s", sub, s)
		}
	}
}
