package web

import (
	"bufio"
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
	nc := websocket.NetConn(h.ctx, c, websocket.MessageBinary)
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
