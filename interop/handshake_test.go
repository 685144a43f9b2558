package interop

import (
	"context"
	"testing"

	"tailscale.com/types/key"
)

// testHandshake checks the 101 response headers, that the key announced in
// Derp-Public-Key is the one in the ServerKey frame and the one the client
// library learns, and that ServerInfo opens to version 2.
func testHandshake(t *testing.T, k serverKind) {
	s := startServer(t, k)
	c := dialRaw(t, s)
	c.handshake(t, key.NewNode())

	for name, want := range map[string]string{
		"Upgrade":         "DERP",
		"Connection":      "Upgrade",
		"Derp-Version":    "2",
		"Derp-Public-Key": hexKey(c.serverKey),
	} {
		if got := c.upgradeHeader.Get(name); got != want {
			t.Errorf("101 header %s = %q, want %q", name, got, want)
		}
	}

	p := connectPeer(t, s)
	if got := p.c.ServerPublicKey(); got != c.serverKey {
		t.Errorf("derphttp learned server key %v, raw ServerKey frame said %v", got, c.serverKey)
	}
	ctx, cancel := context.WithTimeout(t.Context(), msgTimeout)
	defer cancel()
	if err := p.c.Ping(ctx); err != nil {
		t.Errorf("ping after handshake: %v", err)
	}
}
