package client

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/relayctl/relayctl/relay/key"
	"github.com/relayctl/relayctl/relay/wire"
)

// Fixed keys make expected bytes reproducible.
var (
	serverPriv, _ = key.ParseNodePrivate("privkey:" + strings.Repeat("11", 32))
	clientPriv, _ = key.ParseNodePrivate("privkey:" + strings.Repeat("22", 32))
	peerPub       = key.NodePublicFromRaw32(bytes.Repeat([]byte{0x33}, 32))
	otherPub      = key.NodePublicFromRaw32(bytes.Repeat([]byte{0x44}, 32))
)

// hexb decodes hex written with spaces for readability.
func hexb(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

func raw(k key.NodePublic) []byte { return k.AppendTo(nil) }

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// fakeServer plays the server's side of a DERP stream from a script.
type fakeServer struct {
	conn      net.Conn
	br        *bufio.Reader
	priv      key.NodePrivate
	websocket bool // the WebSocket handshake stands in for the 101
}

func (s *fakeServer) write(parts ...[]byte) error {
	_, err := s.conn.Write(cat(parts...))
	return err
}

// serverKeyFrame is the exact 45-byte ServerKey frame derper sends.
func serverKeyFrame(pub key.NodePublic) []byte {
	return cat(hexb("01 00000028"), []byte("DERP🔑"), raw(pub))
}

func (s *fakeServer) readFrame() (wire.FrameType, []byte, error) {
	return wire.ReadFrame(s.br, 1<<20, nil)
}

// clientHello holds what the client sent in its ClientInfo frame.
type clientHello struct {
	pub  key.NodePublic
	json string
}

func (s *fakeServer) readClientInfo() (clientHello, error) {
	t, p, err := s.readFrame()
	if err != nil {
		return clientHello{}, err
	}
	if t != wire.FrameClientInfo || len(p) < 32 {
		return clientHello{}, fmt.Errorf("got %v frame of %d bytes, want ClientInfo", t, len(p))
	}
	pub := key.NodePublicFromRaw32(p[:32])
	msg, err := s.priv.OpenFrom(pub, p[32:])
	if err != nil {
		return clientHello{}, err
	}
	return clientHello{pub, string(msg)}, nil
}

func (s *fakeServer) writeServerInfo(to key.NodePublic, info wire.ServerInfo) error {
	p, err := wire.SealServerInfoWith(s.priv.Shared(to), info)
	if err != nil {
		return err
	}
	return s.write(wire.AppendFrameHeader(nil, wire.FrameServerInfo, uint32(len(p))), p)
}

// handshake is derper's side of a successful handshake.
func (s *fakeServer) handshake() (clientHello, error) {
	if err := s.write(serverKeyFrame(s.priv.Public())); err != nil {
		return clientHello{}, err
	}
	hello, err := s.readClientInfo()
	if err != nil {
		return hello, err
	}
	return hello, s.writeServerInfo(hello.pub, wire.ServerInfo{Version: 2})
}

// startFake runs script as the server of an in-memory connection and
// returns the client's end. The script's error arrives on the channel.
func startFake(t *testing.T, script func(*fakeServer) error) (net.Conn, <-chan error) {
	t.Helper()
	cc, sc := net.Pipe()
	t.Cleanup(func() { cc.Close(); sc.Close() })
	done := make(chan error, 1)
	go func() {
		done <- script(&fakeServer{conn: sc, br: bufio.NewReader(sc), priv: serverPriv})
	}()
	return cc, done
}

// waitScript returns the script's result, failing if it takes too long.
func waitScript(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("fake server script did not finish")
		return errors.New("unreachable")
	}
}

// connectFake returns a client that completed the handshake with a fake
// server which then runs script.
func connectFake(t *testing.T, opts Options, script func(*fakeServer) error) (*Client, <-chan error) {
	t.Helper()
	conn, done := startFake(t, func(s *fakeServer) error {
		if _, err := s.handshake(); err != nil {
			return fmt.Errorf("handshake: %w", err)
		}
		return script(s)
	})
	c, err := NewClient(t.Context(), conn, nil, clientPriv, opts)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c, done
}
