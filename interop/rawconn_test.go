package interop

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"syscall"
	"testing"
	"time"

	"go4.org/mem"
	"tailscale.com/derp"
	"tailscale.com/types/key"
)

// rawConn speaks DERP byte by byte, for inputs the client library refuses
// to produce. Framing comes from Tailscale's derp package and sealing from
// its types/key, so nothing here depends on relayctl's code.
type rawConn struct {
	nc        net.Conn
	br        *bufio.Reader
	bw        *bufio.Writer
	serverKey key.NodePublic
	// upgradeHeader is the 101 response's header, kept for inspection.
	upgradeHeader http.Header
}

func dialRaw(t *testing.T, s *server) *rawConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", s.httpAddr, msgTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawConn{nc: nc, br: bufio.NewReader(nc), bw: bufio.NewWriter(nc)}
}

// localAddr is the client side of the TCP connection, which is what a
// server's logs call the remote address.
func (c *rawConn) localAddr() string { return c.nc.LocalAddr().String() }

// upgrade sends the HTTP upgrade request a native client sends, requires a
// 101, and reads the ServerKey frame that must follow it.
func (c *rawConn) upgrade(t *testing.T) {
	t.Helper()
	c.nc.SetDeadline(time.Now().Add(msgTimeout))
	defer c.nc.SetDeadline(time.Time{})
	fmt.Fprintf(c.bw, "GET /derp HTTP/1.1\r\nHost: %s\r\nUser-Agent: Go-http-client/1.1\r\nConnection: Upgrade\r\nUpgrade: DERP\r\n\r\n", c.nc.RemoteAddr())
	if err := c.bw.Flush(); err != nil {
		t.Fatalf("writing upgrade request: %v", err)
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		t.Fatalf("reading upgrade response: %v", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: status %q, want 101", resp.Status)
	}
	c.upgradeHeader = resp.Header

	typ, payload, err := c.readFrame(msgTimeout)
	if err != nil {
		t.Fatalf("reading ServerKey frame: %v", err)
	}
	if typ != derp.FrameServerKey {
		t.Fatalf("first frame type %#x, want ServerKey %#x", typ, derp.FrameServerKey)
	}
	if len(payload) < len(derp.Magic)+derp.KeyLen || string(payload[:len(derp.Magic)]) != derp.Magic {
		t.Fatalf("ServerKey payload %x lacks magic and key", payload)
	}
	c.serverKey = key.NodePublicFromRaw32(mem.B(payload[len(derp.Magic) : len(derp.Magic)+derp.KeyLen]))
}

// clientInfoPayload builds a ClientInfo payload: pub ‖ nonce ‖ box(json),
// sealed by priv to serverKey.
func clientInfoPayload(priv key.NodePrivate, serverKey key.NodePublic) []byte {
	msg, err := json.Marshal(derp.ClientInfo{Version: derp.ProtocolVersion})
	if err != nil {
		panic(err)
	}
	pub := priv.Public()
	return append(pub.AppendTo(nil), priv.SealTo(serverKey, msg)...)
}

// handshake upgrades, sends a valid ClientInfo for priv and requires
// ServerInfo as the next frame.
func (c *rawConn) handshake(t *testing.T, priv key.NodePrivate) {
	t.Helper()
	c.upgrade(t)
	c.writeFrame(t, derp.FrameClientInfo, clientInfoPayload(priv, c.serverKey))
	c.expectServerInfo(t, priv)
}

func (c *rawConn) expectServerInfo(t *testing.T, priv key.NodePrivate) {
	t.Helper()
	typ, payload, err := c.readFrame(msgTimeout)
	if err != nil {
		t.Fatalf("waiting for ServerInfo: %v", err)
	}
	if typ != derp.FrameServerInfo {
		t.Fatalf("frame after ClientInfo has type %#x, want ServerInfo %#x", typ, derp.FrameServerInfo)
	}
	msg, ok := priv.OpenFrom(c.serverKey, payload)
	if !ok {
		t.Fatalf("ServerInfo box (%d bytes) does not open", len(payload))
	}
	var info derp.ServerInfo
	if err := json.Unmarshal(msg, &info); err != nil {
		t.Fatalf("ServerInfo JSON %q: %v", msg, err)
	}
	if info.Version != derp.ProtocolVersion {
		t.Fatalf("ServerInfo %s: version %d, want %d", msg, info.Version, derp.ProtocolVersion)
	}
}

func (c *rawConn) writeFrame(t *testing.T, typ derp.FrameType, payload []byte) {
	t.Helper()
	c.nc.SetWriteDeadline(time.Now().Add(msgTimeout))
	if err := derp.WriteFrame(c.bw, typ, payload); err != nil {
		t.Fatalf("writing frame %#x: %v", typ, err)
	}
	if err := c.bw.Flush(); err != nil {
		t.Fatalf("writing frame %#x: %v", typ, err)
	}
}

// writeRaw writes b as is; used for frames that lie about their length.
func (c *rawConn) writeRaw(t *testing.T, b []byte) {
	t.Helper()
	c.nc.SetWriteDeadline(time.Now().Add(msgTimeout))
	if _, err := c.nc.Write(b); err != nil {
		t.Fatalf("writing %d raw bytes: %v", len(b), err)
	}
}

// maxRawFrame bounds what readFrame will buffer, like the client library's
// own 1 MiB limit.
const maxRawFrame = 1 << 20

func (c *rawConn) readFrame(timeout time.Duration) (derp.FrameType, []byte, error) {
	c.nc.SetReadDeadline(time.Now().Add(timeout))
	typ, n, err := derp.ReadFrameHeader(c.br)
	if err != nil {
		return 0, nil, err
	}
	if n > maxRawFrame {
		return 0, nil, fmt.Errorf("frame %#x announces %d bytes", typ, n)
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(c.br, payload); err != nil {
		return 0, nil, err
	}
	return typ, payload, nil
}

// expectFrame reads frames, skipping KeepAlive, until one arrives.
func (c *rawConn) expectFrame(t *testing.T) (derp.FrameType, []byte) {
	t.Helper()
	for {
		typ, payload, err := c.readFrame(msgTimeout)
		if err != nil {
			t.Fatalf("waiting for a frame: %v", err)
		}
		if typ != derp.FrameKeepAlive {
			return typ, payload
		}
	}
}

// expectClosed requires the server to end the connection within timeout.
// Frames it sends first are ignored; silence until the deadline fails.
func (c *rawConn) expectClosed(t *testing.T, timeout time.Duration) {
	t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(timeout))
	_, err := io.Copy(io.Discard, c.br)
	if err == nil || isClosedErr(err) {
		return
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("server kept the connection from %s open for %v", c.localAddr(), timeout)
	}
	t.Fatalf("reading until close: %v", err)
}

// isClosedErr accepts the ways a server-side close shows up: EOF (a clean
// FIN) or a reset (close with unread data in the server's receive buffer).
func isClosedErr(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)
}

// upgradeKeyHex returns the Derp-Public-Key header of the 101 response.
func (c *rawConn) upgradeKeyHex() string { return c.upgradeHeader.Get("Derp-Public-Key") }

func hexKey(k key.NodePublic) string {
	raw := k.Raw32()
	return hex.EncodeToString(raw[:])
}
