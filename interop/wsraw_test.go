package interop

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"go4.org/mem"
	"tailscale.com/derp"
	"tailscale.com/types/key"
)

// wsRaw speaks WebSocket (RFC 6455) frame by frame, for inputs a
// WebSocket library refuses to send: text messages, oversized messages,
// floods of control frames. It carries DERP the way browser clients do.
type wsRaw struct {
	nc net.Conn
	br *bufio.Reader
	// stream holds DERP bytes from binary messages not yet parsed.
	stream    []byte
	pongs     int // WebSocket Pongs received so far
	serverKey key.NodePublic
}

// WebSocket opcodes.
const (
	wsContinuation = 0x0
	wsText         = 0x1
	wsBinary       = 0x2
	wsClose        = 0x8
	wsPing         = 0x9
	wsPong         = 0xA
)

// dialWS opens a TCP connection and sends a WebSocket upgrade for /derp
// with the given subprotocol ("" for none); it returns the response.
func dialWS(t *testing.T, s *server, subprotocol string) (*wsRaw, *http.Response) {
	t.Helper()
	c := dialRaw(t, s)
	req := "GET /derp HTTP/1.1\r\nHost: " + s.httpAddr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
	if subprotocol != "" {
		req += "Sec-WebSocket-Protocol: " + subprotocol + "\r\n"
	}
	c.writeRaw(t, []byte(req+"\r\n"))
	c.nc.SetReadDeadline(time.Now().Add(msgTimeout))
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		t.Fatalf("reading WebSocket upgrade response: %v", err)
	}
	c.nc.SetReadDeadline(time.Time{})
	return &wsRaw{nc: c.nc, br: c.br}, resp
}

// openWS upgrades with subprotocol derp and reads the ServerKey frame.
func openWS(t *testing.T, s *server) *wsRaw {
	t.Helper()
	w, resp := dialWS(t, s, "derp")
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("WebSocket upgrade: %s, want 101", resp.Status)
	}
	typ, payload, err := w.readDERP(msgTimeout)
	if err != nil {
		t.Fatalf("reading ServerKey over WebSocket: %v", err)
	}
	if typ != derp.FrameServerKey || len(payload) < len(derp.Magic)+derp.KeyLen {
		t.Fatalf("first DERP frame over WebSocket: type %#x, %d bytes; want ServerKey", typ, len(payload))
	}
	w.serverKey = key.NodePublicFromRaw32(mem.B(payload[len(derp.Magic) : len(derp.Magic)+derp.KeyLen]))
	return w
}

// wsFrame is one masked client frame (clients must mask, RFC 6455 §5.3).
func wsFrame(opcode byte, payload []byte) []byte {
	b := []byte{0x80 | opcode}
	switch n := len(payload); {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n <= 0xffff:
		b = binary.BigEndian.AppendUint16(append(b, 0x80|126), uint16(n))
	default:
		b = binary.BigEndian.AppendUint64(append(b, 0x80|127), uint64(n))
	}
	mask := [4]byte{0x5a, 0xa5, 0x3c, 0xc3}
	b = append(b, mask[:]...)
	for i, c := range payload {
		b = append(b, c^mask[i%4])
	}
	return b
}

// send writes b whole; a server that closes first makes it fail, which
// the caller may expect.
func (w *wsRaw) send(b []byte) error {
	w.nc.SetWriteDeadline(time.Now().Add(msgTimeout))
	_, err := w.nc.Write(b)
	return err
}

// readFrame reads one server frame (servers never mask).
func (w *wsRaw) readFrame() (opcode byte, payload []byte, err error) {
	var h [2]byte
	if _, err := io.ReadFull(w.br, h[:]); err != nil {
		return 0, nil, err
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var x [2]byte
		if _, err := io.ReadFull(w.br, x[:]); err != nil {
			return 0, nil, err
		}
		n = uint64(binary.BigEndian.Uint16(x[:]))
	case 127:
		var x [8]byte
		if _, err := io.ReadFull(w.br, x[:]); err != nil {
			return 0, nil, err
		}
		n = binary.BigEndian.Uint64(x[:])
	}
	if n > maxRawFrame {
		return 0, nil, fmt.Errorf("WebSocket frame of %d bytes", n)
	}
	payload = make([]byte, n)
	_, err = io.ReadFull(w.br, payload)
	return h[0] & 0x0f, payload, err
}

// errWSClosed is a Close frame from the server.
var errWSClosed = errors.New("WebSocket close frame")

// readDERP returns the next DERP frame from the binary messages, counting
// and skipping Pongs.
func (w *wsRaw) readDERP(timeout time.Duration) (derp.FrameType, []byte, error) {
	w.nc.SetReadDeadline(time.Now().Add(timeout))
	defer w.nc.SetReadDeadline(time.Time{})
	for {
		if len(w.stream) >= 5 {
			n := int(binary.BigEndian.Uint32(w.stream[1:5]))
			if n > maxRawFrame {
				return 0, nil, fmt.Errorf("DERP frame of %d bytes", n)
			}
			if len(w.stream) >= 5+n {
				typ, payload := derp.FrameType(w.stream[0]), w.stream[5:5+n]
				w.stream = w.stream[5+n:]
				return typ, payload, nil
			}
		}
		op, payload, err := w.readFrame()
		if err != nil {
			return 0, nil, err
		}
		switch op {
		case wsBinary, wsContinuation:
			w.stream = append(w.stream, payload...)
		case wsPong:
			w.pongs++
		case wsClose:
			return 0, nil, errWSClosed
		}
	}
}

// expectClosedWS requires the server to end the WebSocket (a Close frame
// or the TCP connection) without completing the DERP handshake.
func (w *wsRaw) expectClosedWS(t *testing.T, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		typ, _, err := w.readDERP(time.Until(deadline))
		switch {
		case errors.Is(err, errWSClosed) || (err != nil && isClosedErr(err)):
			return
		case err != nil:
			t.Fatalf("waiting for the server to close the WebSocket: %v", err)
		case typ == derp.FrameServerInfo:
			t.Fatal("server completed the DERP handshake; want the WebSocket closed")
		}
	}
}
