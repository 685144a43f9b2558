package web

import (
	"bufio"
	"net"
	"net/http"

	"github.com/coder/websocket"

	"github.com/relayctl/relayctl/relay/server"
)

// serveWebSocket carries DERP inside binary WebSocket messages, for
// browser (wasm) clients. Message boundaries mean nothing: it is a byte
// stream, as in Tailscale's client.
func (h *derpHandler) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		Subprotocols:       []string{"derp"},
		InsecureSkipVerify: true, // any origin: browsers on any site may use the relay
		CompressionMode:    websocket.CompressionDisabled,
	})
	if err != nil {
		h.logger.Info("websocket accept failed", "remote", r.RemoteAddr, "err", err)
		return
	}
	if c.Subprotocol() != "derp" {
		c.Close(websocket.StatusPolicyViolation, "client must speak the derp subprotocol")
		return
	}
	nc := &wsConn{Conn: websocket.NetConn(h.ctx, c, websocket.MessageBinary), ws: c}
	// Frames can be up to 64 KiB of packet plus headers; the library's
	// default read limit is far lower. Set after NetConn, which resets
	// the limit to none.
	c.SetReadLimit(1 << 20)
	brw := bufio.NewReadWriter(bufio.NewReader(nc), bufio.NewWriterSize(nc, 16))
	h.s.Accept(h.ctx, nc, brw, server.ConnInfo{
		RemoteAddr: h.trusted.ClientAddr(r, remoteAddrPort(nil, r.RemoteAddr)),
		NotIdeal:   r.Header.Get("Ideal-Node") != "",
		WebSocket:  true,
	})
}

// wsConn is a WebSocket as a net.Conn that the relay can also close
// without the close handshake, which waits up to 5 s to write our close
// frame and 5 s more for the client's answer.
type wsConn struct {
	net.Conn
	ws *websocket.Conn
}

// CloseNow closes the connection at once, then releases what the net.Conn
// view holds (its Close returns at once on a closed WebSocket).
func (c *wsConn) CloseNow() error {
	err := c.ws.CloseNow()
	c.Conn.Close()
	return err
}
