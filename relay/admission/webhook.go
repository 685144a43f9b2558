package admission

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"syscall"
	"time"
)

// The webhook exchange is derper's --verify-client-url (tailcfg's
// DERPAdmitClientRequest/Response):
//
//	POST <url>          (no Content-Type header, as derper sends none)
//	{"NodePublic":"nodekey:<64 hex>","Source":"<client IP>"}
//
// and a 200 reply whose first 4 KiB hold {"Allow": true|false} (keys match
// case-insensitively). Anything else rejects. Fail-open admits only when
// the webhook is confirmed down (see webhookHealth): a slow or saturated
// webhook is something a client can cause, so it rejects.
const (
	DefaultWebhookTimeout = 5 * time.Second
	// DefaultWebhookConcurrency bounds calls in flight to one webhook, so
	// a flood of connecting clients cannot turn into a flood of requests.
	DefaultWebhookConcurrency = 16
	// DefaultWebhookQueueWait is how long a client waits for a free call
	// slot before it is rejected as "overloaded".
	DefaultWebhookQueueWait = time.Second
	maxWebhookReply         = 4 << 10
)

// Webhook asks an admission controller over HTTP.
type Webhook struct {
	url       string
	failOpen  bool
	client    *http.Client
	timeout   time.Duration
	queueWait time.Duration
	slots     chan struct{}
	health    *webhookHealth
}

// WebhookOptions tune NewWebhook.
type WebhookOptions struct {
	// FailOpen admits clients when the webhook is confirmed down
	// (connection refused, its name does not resolve), never when it is
	// merely slow or busy.
	FailOpen bool
	// Client defaults to WebhookClient().
	Client *http.Client
	// None of these can be off: 0 picks the default.
	Timeout     time.Duration // default DefaultWebhookTimeout
	Concurrency int           // default DefaultWebhookConcurrency
	QueueWait   time.Duration // default DefaultWebhookQueueWait
}

// NewWebhook returns the check for the controller at url.
func NewWebhook(url string, opts WebhookOptions) *Webhook {
	w := &Webhook{url: url, failOpen: opts.FailOpen, client: opts.Client, timeout: opts.Timeout, queueWait: opts.QueueWait}
	if w.client == nil {
		w.client = WebhookClient()
	}
	if w.timeout <= 0 {
		w.timeout = DefaultWebhookTimeout
	}
	if w.queueWait <= 0 {
		w.queueWait = DefaultWebhookQueueWait
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultWebhookConcurrency
	}
	w.slots = make(chan struct{}, opts.Concurrency)
	w.health = &webhookHealth{}
	return w
}

// WebhookClient is the HTTP client webhook calls use: no proxy from the
// environment (a proxy would see every client's key and could answer for
// the webhook), and no redirect to a URL that CheckWebhookURL refuses
// (https must stay https).
func WebhookClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	return &http.Client{Transport: tr, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		if err := CheckWebhookURL(req.URL); err != nil {
			return fmt.Errorf("redirect refused: %w", err)
		}
		return nil
	}}
}

// CheckWebhookURL accepts https URLs, and http only to this host
// (localhost or a loopback IP): an admission answer that travels in clear
// over a network can be forged by anyone on the path.
func CheckWebhookURL(u *url.URL) error {
	if u.Host == "" {
		return fmt.Errorf("%s: want an https:// URL", u.Redacted())
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if isLoopbackHost(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("%s: plain http only to this host (localhost, 127.0.0.1, [::1]); use https://", redactedURL(u))
	}
	return fmt.Errorf("%s: want an https:// URL", redactedURL(u))
}

func isLoopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

func redactedURL(u *url.URL) string {
	c := *u
	c.User = nil
	if c.RawQuery != "" {
		c.RawQuery = "<redacted>"
	}
	return c.String()
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
	if !w.acquire(ctx) {
		return reject(Overloaded, errors.New("admission controller overloaded: no free request slot"))
	}
	defer func() { <-w.slots }()
	for attempt := 1; ; attempt++ {
		d, down := w.ask(ctx, r)
		if !down {
			// Any answer, or a failure that does not say "down" (a
			// timeout: something may be there), breaks the streak.
			w.health.up()
			return d
		}
		if !w.failOpen {
			return d // nothing to confirm: down rejects like any failure
		}
		confirmed, retryIn := w.health.down(attempt)
		if confirmed {
			return Decision{Result: FailOpen, Reason: d.Reason}
		}
		select {
		case <-time.After(retryIn):
		case <-ctx.Done():
			return d
		}
	}
}

// acquire waits up to the queue wait for a call slot.
func (w *Webhook) acquire(ctx context.Context) bool {
	select {
	case w.slots <- struct{}{}:
		return true
	default:
	}
	t := time.NewTimer(w.queueWait)
	defer t.Stop()
	select {
	case w.slots <- struct{}{}:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	return false
}

// ask makes one call. down reports a failure that says the webhook is not
// there at all (see isDown); any other failure is a plain rejection.
func (w *Webhook) ask(ctx context.Context, r Request) (d Decision, down bool) {
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(RequestBody(r)))
	if err != nil {
		return reject(Error, fmt.Errorf("admission controller request: %w", redactURLError(err))), false
	}
	resp, err := w.client.Do(req)
	if err != nil {
		err = redactURLError(err)
		switch {
		case isDown(err):
			return reject(Unreachable, fmt.Errorf("admission controller unreachable: %w", err)), true
		case errors.Is(err, context.DeadlineExceeded):
			return reject(Overloaded, fmt.Errorf("admission controller overloaded: no answer within %v: %w", w.timeout, err)), false
		}
		return reject(Unreachable, fmt.Errorf("admission controller unreachable: %w", err)), false
	}
	defer func() {
		io.Copy(io.Discard, io.LimitReader(resp.Body, maxWebhookReply))
		resp.Body.Close()
	}()
	if resp.StatusCode != http.StatusOK {
		return reject(Error, fmt.Errorf("admission controller: %s", resp.Status)), false
	}
	var ar admitResponse
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxWebhookReply)).Decode(&ar); err != nil {
		return reject(Error, fmt.Errorf("admission controller reply: %w", err)), false
	}
	if !ar.Allow {
		return reject(Deny, fmt.Errorf("admission controller: %s/%s not allowed", r.Key, sourceString(unmapped(r)))), false
	}
	return allow(), false
}

// isDown reports failures no client can provoke: nothing listens at the
// webhook's address, its name does not resolve, there is no route to it.
func isDown(err error) bool {
	var dnsErr *net.DNSError
	return errors.As(err, &dnsErr) ||
		errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.EHOSTUNREACH) ||
		errors.Is(err, syscall.ENETUNREACH)
}

// redactURLError keeps the webhook URL's credentials and query (which may
// hold a token) out of an error that is logged.
func redactURLError(err error) error {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return err
	}
	if u, perr := url.Parse(ue.URL); perr == nil {
		c := *ue
		c.URL = redactedURL(u)
		return &c
	}
	return err
}

// Fail-open needs the webhook confirmed down: webhookDownConfirmations
// consecutive "down" failures, the retries webhookDownRetryGap apart. Once
// confirmed, one failed call per client is enough until a call succeeds.
const (
	webhookDownConfirmations = 3
	webhookDownRetryGap      = 100 * time.Millisecond
)

type webhookHealth struct {
	mu       sync.Mutex
	failures int // consecutive "down" failures, across clients
}

func (h *webhookHealth) up() {
	h.mu.Lock()
	h.failures = 0
	h.mu.Unlock()
}

// down notes a failed attempt (the attempt-th for this client) and says
// whether the webhook now counts as down, or how long to wait before the
// client's next attempt.
func (h *webhookHealth) down(attempt int) (confirmed bool, retryIn time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.failures++
	if h.failures >= webhookDownConfirmations || attempt >= webhookDownConfirmations {
		return true, 0
	}
	return false, webhookDownRetryGap
}
