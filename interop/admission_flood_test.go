package interop

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"tailscale.com/derp"
	"tailscale.com/derp/derphttp"
	"tailscale.com/net/netmon"
	"tailscale.com/types/key"
	"tailscale.com/types/logger"
)

// TestAdmissionWebhookFlood: a webhook that denies everyone and answers
// one request at a time, and 60 clients connecting at once, with
// fail-open left at its default (on) on both servers. A client must not
// be able to turn "the webhook is busy" into "admitted": relayctl admits
// none. derper's count is logged (the security review saw 35 of 60).
func TestAdmissionWebhookFlood(t *testing.T) {
	const clients = 60
	for _, k := range selectedKinds() {
		t.Run(string(k), func(t *testing.T) {
			t.Parallel()
			var serial sync.Mutex
			hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				serial.Lock()
				defer serial.Unlock()
				select {
				case <-time.After(100 * time.Millisecond):
				case <-r.Context().Done():
					return
				}
				w.Write([]byte(`{"Allow":false}`))
			}))
			defer hook.Close()
			flag := map[serverKind]string{derperServer: "-verify-client-url", relayctlServer: "--verify-client-url"}[k]
			s := startServer(t, k, flag, hook.URL+"/admit")

			var admitted, rejected atomic.Int64
			var wg sync.WaitGroup
			for range clients {
				wg.Go(func() {
					c, err := derphttp.NewClient(key.NewNode(), s.url("/derp"), logger.Discard, netmon.NewStatic())
					if err != nil {
						t.Error(err)
						return
					}
					defer c.Close()
					ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
					defer cancel()
					if err := c.Connect(ctx); err != nil {
						rejected.Add(1)
						return
					}
					m, err := startInbox(c).next(30 * time.Second)
					if _, ok := m.(derp.ServerInfoMessage); ok && err == nil {
						admitted.Add(1)
					} else {
						rejected.Add(1)
					}
				})
			}
			wg.Wait()
			t.Logf("%s: %d of %d clients admitted by a webhook that denies everyone (%d rejected)", k, admitted.Load(), clients, rejected.Load())
			if k == relayctlServer && admitted.Load() != 0 {
				t.Fatalf("relayctl admitted %d of %d clients", admitted.Load(), clients)
			}
		})
	}
}
