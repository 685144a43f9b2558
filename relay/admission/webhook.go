package admission

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// The webhook exchange is derper's --verify-client-url (tailcfg's
// DERPAdmitClientRequest/Response):
//
//	POST <url>          (no Content-Type header, as derper sends none)
//	{"NodePublic":"nodekey:<64 hex>","Source":"<client IP>"}
//
// and a 200 reply whose first 4 KiB hold {"Allow": true|false} (keys match
// case-insensitively). Anything else rejects, except a request that fails
// in transport, which admits when fail-open is on.
const (
	DefaultWebhookTimeout = 5 * time.Second
	maxWebhookReply       = 4 << 10
)

// Webhook asks an admission controller over HTTP.
type Webhook struct {
	url      string
	failOpen bool
	client   *http.Client
	timeout  time.Duration
}

// WebhookOptions tune NewWebhook.
type WebhookOptions struct {
	// FailOpen admits clients when the request fails in transport.
	FailOpen bool
	// Client defaults to one that, like http.DefaultClient, honours the
	// proxy environment and follows redirects.
	Client  *http.Client
	Timeout time.Duration // default DefaultWebhookTimeout
}

// NewWebhook returns the check for the controller at url.
func NewWebhook(url string, opts WebhookOptions) *Webhook {
	w := &Webhook{url: url, failOpen: opts.FailOpen, client: opts.Client, timeout: opts.Timeout}
	if w.client == nil {
		w.client = &http.Client{Transport: http.DefaultTransport}
	}
	if w.timeout <= 0 {
		w.timeout = DefaultWebhookTimeout
	}
	return w
}

// Name implements Check.
func (w *Webhook) Name() string { return "webhook" }

type admitRequest struct {
	NodePublic string
	Source     string
}

type admitResponse struct {
	Allow bool
}

// RequestBody is the JSON body sent for r.
func RequestBody(r Request) []byte {
	b, _ := json.Marshal(admitRequest{NodePublic: r.Key.String(), Source: sourceString(unmapped(r))})
	return b
}

func unmapped(r Request) Request {
	r.Source = r.Source.Unmap()
	return r
}

// Check implements Check.
func (w *Webhook) Check(ctx context.Context, r Request) Decision {
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(RequestBody(r)))
	if err != nil {
		return reject(Error, fmt.Errorf("admission controller request: %w", err))
	}
	resp, err := w.client.Do(req)
	if err != nil {
		err = fmt.Errorf("admission controller unreachable: %w", err)
		if w.failOpen {
			return Decision{Result: FailOpen, Reason: err}
		}
		return reject(Unreachable, err)
	}
	defer func() {
		io.Copy(io.Discard, io.LimitReader(resp.Body, maxWebhookReply))
		resp.Body.Close()
	}()
	if resp.StatusCode != http.StatusOK {
		return reject(Error, fmt.Errorf("admission controller: %s", resp.Status))
	}
	var ar admitResponse
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxWebhookReply)).Decode(&ar); err != nil {
		return reject(Error, fmt.Errorf("admission controller reply: %w", err))
	}
	if !ar.Allow {
		return reject(Deny, fmt.Errorf("admission controller: %s/%s not allowed", r.Key, sourceString(unmapped(r))))
	}
	return allow()
}
