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
			c := s.newSclient(nil, src, wire.ClientInfo{}, ConnInfo{}, tc.mesh)
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

// TestReadLoopAllocs holds the reader goroutine to zero allocations per
// frame in steady state, for packets and for the control frames a client
// sends all the time (a Ping's Pong is queued without growing anything).
func TestReadLoopAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	dst := key.NewNode().Public()
	tests := []struct {
		name    string
		t       wire.FrameType
		payload []byte
	}{
		{"SendPacket", wire.FrameSendPacket, append(dst.AppendTo(nil), make([]byte, 1200)...)},
		{"Ping", wire.FramePing, []byte("12345678")},
		{"NotePreferred", wire.FrameNotePreferred, []byte{1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(Options{PrivateKey: key.NewNode()})
			if err != nil {
				t.Fatal(err)
			}
			frame := append(wire.AppendFrameHeader(nil, tc.t, uint32(len(tc.payload))), tc.payload...)
			c := s.newSclient(nil, key.NewNode().Public(), wire.ClientInfo{}, ConnInfo{}, false)
			src := &repeatReader{frame: frame}
			read := func() {
				src.count = 100
				c.rd.init(src, nil)
				if err := c.readLoop(); err != io.EOF {
					t.Fatalf("readLoop: %v, want EOF", err)
				}
			}
			read() // warm the pools and queues
			if n := testing.AllocsPerRun(100, read); n != 0 {
				t.Errorf("%v allocations per 100 frames, want 0", n)
			}
		})
	}
}
