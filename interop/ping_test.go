package interop

import (
	"bytes"
	"context"
	"testing"

	"tailscale.com/derp"
	"tailscale.com/types/key"
)

// testPingClientLibrary: derphttp.Client.Ping returns only when the server
// echoes its random 8 bytes in a Pong.
func testPingClientLibrary(t *testing.T, k serverKind) {
	s := startServer(t, k)
	p := connectPeer(t, s)
	for range 3 {
		ctx, cancel := context.WithTimeout(t.Context(), msgTimeout)
		err := p.c.Ping(ctx)
		cancel()
		if err != nil {
			t.Fatalf("ping: %v", err)
		}
	}
}

// testPingRaw: an 8-byte Ping frame comes back as a Pong with the same bytes.
func testPingRaw(t *testing.T, k serverKind) {
	s := startServer(t, k)
	c := dialRaw(t, s)
	c.handshake(t, key.NewNode())
	data := []byte("12345678")
	c.writeFrame(t, derp.FramePing, data)
	typ, payload := c.expectFrame(t)
	if typ != derp.FramePong || !bytes.Equal(payload, data) {
		t.Fatalf("got frame %#x %q, want Pong %#x %q", typ, payload, derp.FramePong, data)
	}
}
