package web_test

import (
	"bufio"
	"bytes"
	"context"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/relayctl/relayctl/internal/metrics"
	"github.com/relayctl/relayctl/relay/client"
	"github.com/relayctl/relayctl/relay/key"
	"github.com/relayctl/relayctl/relay/server"
	"github.com/relayctl/relayctl/relay/web"
	"github.com/relayctl/relayctl/relay/wire"
)

// TestClosingSilentWebSocketsIsPrompt: WebSocket clients that stop reading
// never answer a close handshake. Closing them must not wait on them: not
// one after the other in Close, and not on a mesh peer's reader when it
// sends ClosePeer. The relay is not reading from some of them (they are
// over the per-client rate limit), so nothing in flight ends the
// handshake early.
func TestClosingSilentWebSocketsIsPrompt(t *testing.T) {
	const clients, throttled = 1000, 50
	meshKey := key.NewMesh()
	reg := metrics.NewRegistry()
	srv, err := server.New(server.Options{PrivateKey: key.NewNode(), MeshKey: meshKey, Metrics: reg})
	if err != nil {
		t.Fatal(err)
	}
	srv.SetPerClientRateLimit(1, 0) // one largest frame, then a byte a second
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	hs := httptest.NewServer(web.DERPHandler(ctx, srv, nil))
	defer hs.Close()
	defer srv.Close() // before hs.Close, which waits for the handlers

	wsURL := "ws" + strings.TrimPrefix(hs.URL, "http") + "/derp"
	silent := make([]*client.Client, clients)
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	sem := make(chan struct{}, 16)
	big := make([]byte, wire.MaxPacketSize)
	for i := range silent {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			ws, _, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{Subprotocols: []string{"derp"}})
			if err != nil {
				errs <- err
				return
			}
			nc := websocket.NetConn(ctx, ws, websocket.MessageBinary)
			c, err := client.NewClient(ctx, nc, bufio.NewReader(nc), key.NewNode(), client.Options{})
			if err != nil {
				errs <- err
				return
			}
			silent[i] = c // from here on nothing reads it
			if i < throttled {
				// The burst, then a frame the relay waits to read.
				for range 2 {
					if err := c.Send(key.NewNode().Public(), big); err != nil {
						errs <- err
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("WebSocket client: %v", err)
	}
	defer func() {
		for _, c := range silent {
			c.Close()
		}
	}()
	waitMetric(t, reg, "derp_rate_limit_per_client_waited", throttled)

	// A mesh peer closes a client; its next frame is served at once.
	mesh, err := client.Dial(ctx, hs.URL+"/derp", key.NewNode(), client.Options{MeshKey: meshKey, RecvTimeout: 15 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer mesh.Close()
	start := time.Now()
	if err := mesh.ClosePeer(silent[0].PublicKey()); err != nil {
		t.Fatal(err)
	}
	if err := mesh.SendPing([8]byte{7}); err != nil {
		t.Fatal(err)
	}
	for {
		m, err := mesh.Recv()
		if err != nil {
			t.Fatalf("mesh peer: %v", err)
		}
		if m == (client.Pong{Data: [8]byte{7}}) {
			break
		}
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("ClosePeer held the mesh peer's reader for %v", d)
	}

	// Closing the server closes every connection without waiting on them.
	closed := make(chan struct{})
	start = time.Now()
	go func() {
		srv.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatalf("Close still waiting on %d silent WebSocket clients after 5 s", clients)
	}
	t.Logf("Close of %d silent WebSocket clients took %v", clients, time.Since(start))
}

// waitMetric waits until the series reads want.
func waitMetric(t *testing.T, reg *metrics.Registry, series string, want int) {
	t.Helper()
	wantLine := []byte("\n" + series + " " + strconv.Itoa(want) + "\n")
	deadline := time.Now().Add(10 * time.Second)
	for {
		var b bytes.Buffer
		reg.WritePrometheus(&b)
		if bytes.Contains(append([]byte("\n"), b.Bytes()...), wantLine) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s %d", series, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
