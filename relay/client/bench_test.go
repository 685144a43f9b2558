package client

import (
	"io"
	"testing"

	"github.com/relayctl/relayctl/relay/wire"
)

// scriptClient is a client past its handshake whose server then sends
// after forever, and whose writes vanish.
func scriptClient(tb testing.TB, after []byte) *Client {
	tb.Helper()
	hs := handshakeBytes(tb)
	r := io.MultiReader(&onceReader{data: hs}, &loopReader{data: after})
	c, err := NewClient(tb.Context(), &scriptConn{r: r, w: io.Discard}, nil, clientPriv, Options{RecvTimeout: -1})
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

type onceReader struct{ data []byte }

func (r *onceReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func packetFrame(size int) []byte {
	return cat(wire.AppendFrameHeader(nil, wire.FrameRecvPacket, uint32(wire.KeyLen+size)), raw(peerPub), make([]byte, size))
}

// TestPacketPathAllocs holds the packet path to zero allocations, the
// budget a load generator needs.
func TestPacketPathAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	c := scriptClient(t, packetFrame(1200))
	pkt := make([]byte, 1200)
	tests := map[string]func(){
		"Send": func() { c.Send(peerPub, pkt) },
		"Recv": func() {
			if _, err := c.Recv(); err != nil {
				t.Fatal(err)
			}
		},
		"SendBatch": func() { c.SendBatch([]Packet{{peerPub, pkt}, {otherPub, pkt}}) },
	}
	for name, f := range tests {
		t.Run(name, func(t *testing.T) {
			if n := testing.AllocsPerRun(100, f); n != 0 {
				t.Errorf("%v allocations per call, want 0", n)
			}
		})
	}
}

func BenchmarkSend(b *testing.B) {
	c := scriptClient(b, packetFrame(0))
	pkt := make([]byte, 1200)
	b.SetBytes(int64(len(pkt)))
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Send(peerPub, pkt); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRecv(b *testing.B) {
	c := scriptClient(b, packetFrame(1200))
	b.SetBytes(1200)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Recv(); err != nil {
			b.Fatal(err)
		}
	}
}
