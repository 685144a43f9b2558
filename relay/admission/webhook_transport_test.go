package admission

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/relayctl/relayctl/relay/key"
)

// TestWebhookRedirectMustStayHTTPS: an https webhook that redirects to
// plain http (which anyone on the path could answer) is not followed.
func TestWebhookRedirectMustStayHTTPS(t *testing.T) {
	plainHit := make(chan struct{}, 1)
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		plainHit <- struct{}{}
		reply(200, `{"Allow":true}`)(w, r)
	}))
	defer plain.Close()
	// Plain http to a non-loopback name that resolves to the test server.
	target := strings.Replace(plain.URL, "127.0.0.1", "relay-test.invalid", 1)
	ts := httptest.NewTLSServer(http.RedirectHandler(target+"/admit", http.StatusTemporaryRedirect))
	defer ts.Close()

	wh := NewWebhook(ts.URL, WebhookOptions{FailOpen: true})
	wh.client.Transport.(*http.Transport).TLSClientConfig = ts.Client().Transport.(*http.Transport).TLSClientConfig
	d := wh.Check(t.Context(), Request{Key: key.NewNode().Public()})
	if d.Admits() {
		t.Fatalf("admitted via an https→http redirect: %q (%v)", d.Result, d.Reason)
	}
	if d.Reason == nil || !strings.Contains(d.Reason.Error(), "redirect refused") {
		t.Fatalf("reason %v, want a refused redirect", d.Reason)
	}
	select {
	case <-plainHit:
		t.Fatal("the plain-http target was asked")
	default:
	}
}

// TestWebhookIgnoresProxyEnvironment: the webhook call never goes through
// HTTP(S)_PROXY, which would see every client's key and could answer.
func TestWebhookIgnoresProxyEnvironment(t *testing.T) {
	tr, ok := NewWebhook("https://admit.example/", WebhookOptions{}).client.Transport.(*http.Transport)
	if !ok {
		t.Fatal("webhook transport is not an *http.Transport")
	}
	if tr.Proxy != nil {
		t.Setenv("HTTPS_PROXY", "http://proxy.example:3128")
		p, _ := tr.Proxy(&http.Request{URL: &url.URL{Scheme: "https", Host: "admit.example"}})
		t.Fatalf("webhook transport has a proxy function (HTTPS_PROXY gives %v)", p)
	}
}

func TestCheckWebhookURL(t *testing.T) {
	tests := []struct {
		url     string
		wantErr string
	}{
		{"https://admit.example/verify", ""},
		{"http://127.0.0.1:8080/verify", ""},
		{"http://[::1]:8080/verify", ""},
		{"http://localhost:8080/verify", ""},
		{"http://admit.example/verify?token=s3cret", "plain http only to this host"},
		{"http://10.0.0.5/verify", "plain http only to this host"},
		{"ftp://admit.example/", "want an https:// URL"},
		{"admit.example", "want an https:// URL"},
	}
	for _, tc := range tests {
		u, err := url.Parse(tc.url)
		if err != nil {
			t.Fatal(err)
		}
		err = CheckWebhookURL(u)
		if tc.wantErr == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.url, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%s: error %v, want %q", tc.url, err, tc.wantErr)
		} else if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: error shows the query: %v", tc.url, err)
		}
	}
}
