package client

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/relayctl/relayctl/relay/wire"
)

// handshakeBytes is a server's half of a valid handshake with clientPriv.
func handshakeBytes(tb testing.TB) []byte {
	p, err := wire.SealServerInfoWith(serverPriv.Shared(clientPriv.Public()), wire.ServerInfo{Version: 2})
	if err != nil {
		tb.Fatal(err)
	}
	return cat(serverKeyFrame(serverPriv.Public()), wire.AppendFrameHeader(nil, wire.FrameServerInfo, uint32(len(p))), p)
}

// FuzzRecv feeds arbitrary server bytes after a valid handshake. Recv must
// never panic, must end in an error once the bytes run out, and must keep
// returning that error.
func FuzzRecv(f *testing.F) {
	hs := handshakeBytes(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		conn := &scriptConn{r: io.MultiReader(bytes.NewReader(hs), bytes.NewReader(data)), w: io.Discard}
		c, err := NewClient(t.Context(), conn, nil, clientPriv, Options{RecvTimeout: -1})
		if err != nil {
			t.Fatalf("handshake: %v", err)
		}
		consumed := 0
		for {
			m, err := c.Recv()
			if err != nil {
				if _, again := c.Recv(); again != err {
					t.Fatalf("error not sticky: %v then %v", err, again)
				}
				if consumed == len(data) && !errors.Is(err, io.EOF) {
					t.Fatalf("all %d bytes consumed, then %v, want EOF", consumed, err)
				}
				return
			}
			consumed += wire.FrameHeaderLen + frameLen(m)
			if consumed > len(data) {
				t.Fatalf("messages account for %d bytes, only %d were sent", consumed, len(data))
			}
		}
	})
}

// frameLen recovers the payload length a message came from, where the
// message says so; for the others the fuzzer's byte count stays a bound.
func frameLen(m Message) int {
	switch m := m.(type) {
	case *ReceivedPacket:
		return wire.KeyLen + len(m.Data)
	case UnknownFrame:
		return m.Len
	case MalformedFrame:
		return m.Len
	case Health:
		return len(m.Problem)
	}
	return 0
}
