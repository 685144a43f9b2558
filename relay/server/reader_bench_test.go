package server

import (
	"io"
	"testing"

	"github.com/relayctl/relayctl/relay/key"
	"github.com/relayctl/relayctl/relay/wire"
)

// repeatReader serves one frame count times, then io.EOF, in reads as
// large as the caller asks for, like a busy socket.
type repeatReader struct {
	frame      []byte
	off, count int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) && r.count > 0 {
		k := copy(p[n:], r.frame[r.off:])
		n += k
		r.off += k
		if r.off == len(r.frame) {
			r.off = 0
			r.count--
		}
	}
	if n == 0 {
		return 0, io.EOF
	}
	return n, nil
}

// BenchmarkReadLoop is the reader goroutine alone: frame header, payload
// parse and read, routing to a destination nobody has (a counted drop, so
// no writer runs).
func BenchmarkReadLoop(b *testing.B) {
	dst := key.NewNode().Public()
	src := key.NewNode().Public()
	pkt := make([]byte, 1200)
	tests := []struct {
		name    string
		t       wire.FrameType
		payload []byte
		mesh    bool
	}{
		{"SendPacket", wire.FrameSendPacket, append(dst.AppendTo(nil), pkt...), false},
		{"ForwardPacket", wire.FrameForwardPacket, append(dst.AppendTo(src.AppendTo(nil)), pkt...), true},
		{"Ping", wire.FramePing, []byte("12345678"), false},
	}
	for _, tc := range tests {
		b.Run(tc.name, func(b *testing.B) {
			s, err := New(Options{PrivateKey: key.NewNode()})
			if err != nil {
				b.Fatal(err)
			}
			frame := append(wire.AppendFrameHeader(nil, tc.t, uint32(len(tc.payload))), tc.payload...)
			c := &sclient{s: s, key: src, canMesh: tc.mesh, done: make(chan struct{}), wake: make(chan struct{}, 1)}
			c.rd.init(&repeatReader{frame: frame, count: b.N}, nil)
			b.SetBytes(int64(len(frame)))
			b.ReportAllocs()
			b.ResetTimer()
			if err := c.readLoop(); err != io.EOF {
				b.Fatalf("readLoop: %v, want EOF", err)
			}
			c.rd.close()
		})
	}
}
