package interop

import (
	"bytes"
	"testing"

	"tailscale.com/derp"
	"tailscale.com/types/key"
)

// testWatchConnsWithoutMeshKey: WatchConns is a mesh privilege; a client
// that did not present the mesh key is disconnected for sending it.
func testWatchConnsWithoutMeshKey(t *testing.T, k serverKind) {
	s := startServer(t, k)
	c := dialRaw(t, s)
	c.handshake(t, key.NewNode())
	expectAlive(t, c)
	c.writeFrame(t, derp.FrameWatchConns, nil)
	c.expectClosed(t, msgTimeout)
}

// testNotePreferredWrongLength: NotePreferred carries exactly one byte. A
// correct one keeps the connection; two bytes close it.
func testNotePreferredWrongLength(t *testing.T, k serverKind) {
	s := startServer(t, k)
	c := dialRaw(t, s)
	c.handshake(t, key.NewNode())
	c.writeFrame(t, derp.FrameNotePreferred, []byte{1})
	expectAlive(t, c)
	c.writeFrame(t, derp.FrameNotePreferred, []byte{1, 1})
	c.expectClosed(t, msgTimeout)
}

// expectAlive proves the connection still works with a Ping/Pong round trip.
func expectAlive(t *testing.T, c *rawConn) {
	t.Helper()
	data := []byte("alive?!!")
	c.writeFrame(t, derp.FramePing, data)
	typ, payload := c.expectFrame(t)
	if typ != derp.FramePong || !bytes.Equal(payload, data) {
		t.Fatalf("got frame %#x %q, want Pong %q", typ, payload, data)
	}
}
