package admission

import (
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/relayctl/relayctl/relay/key"
)

// TestWebhookOverloadDoesNotFailOpen is the admission flood: a webhook
// that denies everyone and answers one request at a time, and 60 clients
// connecting at once. A slow answer is the webhook being overloaded, not
// down: none of them may be admitted, fail-open or not.
func TestWebhookOverloadDoesNotFailOpen(t *testing.T) {
	var serial sync.Mutex
	ws := newWebhookServer(t, func(w http.ResponseWriter, r *http.Request) {
		serial.Lock()
		defer serial.Unlock()
		select {
		case <-time.After(20 * time.Millisecond):
		case <-r.Context().Done():
			return
		}
		reply(200, `{"Allow":false}`)(w, r)
	})
	wh := Cached(NewWebhook(ws.URL, WebhookOptions{FailOpen: true, Timeout: 300 * time.Millisecond}),
		CacheOptions{KeyOf: CacheKeyWithSource})
	chain := NewChain(nil, nil, wh)

	const clients = 60
	var admitted atomic.Int64
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() {
			r := Request{Key: key.NewNode().Public(), Source: netip.AddrFrom4([4]byte{192, 0, 2, byte(i)})}
			if chain.Admit(t.Context(), r) == nil {
				admitted.Add(1)
			}
		})
	}
	wg.Wait()
	if n := admitted.Load(); n != 0 {
		t.Fatalf("%d of %d clients admitted by a webhook that denies everyone", n, clients)
	}
}

// TestWebhookQueueFullRejects: with every call slot busy, a client waits
// at most the queue wait and is rejected as overloaded, even fail-open.
func TestWebhookQueueFullRejects(t *testing.T) {
	release, arrived := make(chan struct{}), make(chan struct{}, 1)
	ws := newWebhookServer(t, func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	wh := NewWebhook(ws.URL, WebhookOptions{FailOpen: true, Concurrency: 1, QueueWait: 50 * time.Millisecond})
	busy := make(chan Decision, 1)
	go func() { busy <- wh.Check(t.Context(), Request{Key: key.NewNode().Public()}) }()
	<-arrived
	d := wh.Check(t.Context(), Request{Key: key.NewNode().Public()})
	if d.Result != Overloaded {
		t.Fatalf("result %q (%v), want overloaded", d.Result, d.Reason)
	}
}

// TestWebhookDownNeedsConfirmation: fail-open admits only after the
// webhook refused several consecutive attempts; one success resets that.
func TestWebhookDownNeedsConfirmation(t *testing.T) {
	var refused atomic.Int64
	wh := NewWebhook(refusedURL(t), WebhookOptions{FailOpen: true})
	wh.client.Transport = countingTransport{wh.client.Transport, &refused}
	d := wh.Check(t.Context(), Request{Key: key.NewNode().Public()})
	if d.Result != FailOpen {
		t.Fatalf("result %q (%v), want fail_open", d.Result, d.Reason)
	}
	if n := refused.Load(); n != webhookDownConfirmations {
		t.Fatalf("%d attempts before failing open, want %d", n, webhookDownConfirmations)
	}
	// Confirmed down: the next client costs one attempt.
	wh.Check(t.Context(), Request{Key: key.NewNode().Public()})
	if n := refused.Load(); n != webhookDownConfirmations+1 {
		t.Fatalf("%d attempts in all, want %d", n, webhookDownConfirmations+1)
	}
	wh.health.up()
	refused.Store(0)
	wh.Check(t.Context(), Request{Key: key.NewNode().Public()})
	if n := refused.Load(); n != webhookDownConfirmations {
		t.Fatalf("after a success: %d attempts, want %d again", n, webhookDownConfirmations)
	}
}

type countingTransport struct {
	http.RoundTripper
	n *atomic.Int64
}

func (c countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.RoundTripper.RoundTrip(r)
}
