package interop

import (
	"bufio"
	"context"
	"testing"

	"github.com/coder/websocket"
	"tailscale.com/derp"
	"tailscale.com/types/key"
	"tailscale.com/types/logger"
)

// testWebSocket connects the way Tailscale's browser client does (WebSocket
// with subprotocol "derp", DERP bytes in binary messages), drives it with
// Tailscale's derp.Client, and exchanges packets with a native client.
func testWebSocket(t *testing.T, k serverKind) {
	s := startServer(t, k)
	native := connectPeer(t, s)

	ctx, cancel := context.WithTimeout(t.Context(), msgTimeout)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, "ws://"+s.httpAddr+"/derp", &websocket.DialOptions{
		Subprotocols: []string{"derp"},
	})
	if err != nil {
		t.Fatalf("websocket dial: %v", err)
	}
	if got := resp.Header.Get("Sec-WebSocket-Protocol"); got != "derp" {
		t.Errorf("negotiated subprotocol %q, want derp", got)
	}
	// The net.Conn lives until the test ends; cleanup closes it.
	nc := websocket.NetConn(context.WithoutCancel(t.Context()), ws, websocket.MessageBinary)
	t.Cleanup(func() { nc.Close() })

	priv := key.NewNode()
	dc, err := derp.NewClient(priv, nc, bufio.NewReadWriter(bufio.NewReader(nc), bufio.NewWriter(nc)), logger.Discard)
	if err != nil {
		t.Fatalf("DERP handshake over WebSocket: %v", err)
	}
	in := startInbox(dc)
	t.Cleanup(func() {
		nc.Close()
		<-in.done
	})
	m, err := in.next(msgTimeout)
	if err != nil {
		t.Fatalf("waiting for ServerInfo over WebSocket: %v", err)
	}
	if _, ok := m.(derp.ServerInfoMessage); !ok {
		t.Fatalf("first message over WebSocket is %T, want ServerInfo", m)
	}

	toNative := []byte("from websocket")
	if err := dc.Send(native.pub, toNative); err != nil {
		t.Fatalf("send over WebSocket: %v", err)
	}
	native.expectPacket(t, priv.Public(), toNative)

	toWS := make([]byte, 4000) // spans several TCP segments inside one WS message
	copy(toWS, "from native")
	native.send(t, priv.Public(), toWS)
	m, err = in.next(msgTimeout)
	if err != nil {
		t.Fatalf("waiting for packet over WebSocket: %v", err)
	}
	checkPacket(t, m, native.pub, toWS)
}
