package client

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"

	"github.com/coder/websocket"
)

// dialWebSocket opens a WebSocket with subprotocol "derp" and returns it as
// a byte stream: each flush of ours becomes one binary message, and the
// server's messages are read back to back, boundaries ignored.
func dialWebSocket(ctx context.Context, u *url.URL, opts Options) (net.Conn, error) {
	wsURL := *u
	wsURL.Scheme = "ws"
	if u.Scheme == "https" {
		wsURL.Scheme = "wss"
	}
	dial := opts.Dialer
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	transport := &http.Transport{
		DialContext:     dial,
		TLSClientConfig: TLSConfig(u, opts.TLSConfig),
		// The upgrade needs HTTP/1.1, and loopback-only callers need no proxy.
		ForceAttemptHTTP2: false,
		Proxy:             nil,
	}
	defer transport.CloseIdleConnections()
	ws, resp, err := websocket.Dial(ctx, wsURL.String(), &websocket.DialOptions{
		HTTPClient:   &http.Client{Transport: transport},
		HTTPHeader:   opts.Header,
		Subprotocols: []string{"derp"},
	})
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("websocket dial: status %s: %w", resp.Status, err)
		}
		return nil, fmt.Errorf("websocket dial: %w", err)
	}
	if ws.Subprotocol() != "derp" {
		ws.Close(websocket.StatusPolicyViolation, "client must speak the derp subprotocol")
		return nil, fmt.Errorf("websocket dial: server chose subprotocol %q, want \"derp\"", ws.Subprotocol())
	}
	// The connection outlives the dial's context; Close ends it.
	return messageSizedConn{websocket.NetConn(context.Background(), ws, websocket.MessageBinary)}, nil
}

// maxWebSocketMessage is the largest message derper reads: its WebSocket
// wrapper keeps the library's default read limit, and a longer message
// (a frame carrying a packet over 32 KiB, or a batch) makes it hang up.
const maxWebSocketMessage = 32 << 10

// messageSizedConn splits writes into messages derper accepts; the DERP
// stream ignores message boundaries.
type messageSizedConn struct{ net.Conn }

func (c messageSizedConn) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		chunk := p[:min(len(p), maxWebSocketMessage)]
		n, err := c.Conn.Write(chunk)
		written += n
		if err != nil {
			return written, err
		}
		p = p[len(chunk):]
	}
	return written, nil
}
