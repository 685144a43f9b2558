package server_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/relayctl/relayctl/relay/key"
	"github.com/relayctl/relayctl/relay/wire"
)

// rawHandshake performs the DERP handshake by hand on nc and returns a
// reader positioned after ServerInfo.
func rawHandshake(t *testing.T, r *testRelay, nc net.Conn, priv key.NodePrivate) *bufio.Reader {
	t.Helper()
	br := bufio.NewReader(nc)
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	srvKey := rawClientInfo(t, br, nc, priv)
	typ, p, err := wire.ReadFrame(br, 1024, nil)
	if err != nil || typ != wire.FrameServerInfo {
		t.Fatalf("ServerInfo: %v %v", typ, err)
	}
	info, err := wire.OpenServerInfoWith(priv.Shared(srvKey), p)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := json.Marshal(info); string(b) != `{"version":2}` {
		t.Fatalf("ServerInfo JSON %s", b)
	}
	nc.SetReadDeadline(time.Time{})
	return br
}

// rawClientInfo reads the server's ServerKey frame from br and answers
// with ClientInfo as priv on nc; it returns the server's key.
func rawClientInfo(t *testing.T, br *bufio.Reader, nc net.Conn, priv key.NodePrivate) key.NodePublic {
	t.Helper()
	typ, p, err := wire.ReadFrame(br, 1024, nil)
	if err != nil || typ != wire.FrameServerKey {
		t.Fatalf("ServerKey: %v %v", typ, err)
	}
	srvKey, err := wire.ParseServerKey(p)
	if err != nil {
		t.Fatal(err)
	}
	ci, err := wire.SealClientInfo(priv, srvKey, wire.ClientInfo{Version: 2})
	if err != nil {
		t.Fatal(err)
	}
	bw := bufio.NewWriter(nc)
	wire.WriteFrame(bw, wire.FrameClientInfo, ci)
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	return srvKey
}

// expectRawClosed reads nc until EOF, failing if the server keeps it
// open for 5 s.
func expectRawClosed(t *testing.T, nc net.Conn) {
	t.Helper()
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := io.Copy(io.Discard, nc)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("server did not close the connection")
	}
}
