package wire_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/relayctl/relayctl/relay/key"
	"github.com/relayctl/relayctl/relay/wire"
)

// TestClientFrameReaders reads each kind of client frame as a server does:
// a frame that fits its layout is read up to the next frame, a bad length
// is a *FrameError before any of the body is read, and a body cut short is
// io.ErrUnexpectedEOF.
func TestClientFrameReaders(t *testing.T) {
	dst := key.NodePublicFromRaw32(bytes.Repeat([]byte{1}, wire.KeyLen))
	src := key.NodePublicFromRaw32(bytes.Repeat([]byte{2}, wire.KeyLen))
	readers := map[wire.FrameType]func(wire.Reader, uint32) (any, error){
		wire.FrameSendPacket: func(r wire.Reader, n uint32) (any, error) {
			dst, size, err := wire.ReadSendPacketHead(r, n)
			if err == nil {
				_, err = r.Discard(size)
			}
			return [2]any{dst, size}, err
		},
		wire.FrameForwardPacket: func(r wire.Reader, n uint32) (any, error) {
			src, dst, size, err := wire.ReadForwardPacketHead(r, n)
			if err == nil {
				_, err = r.Discard(size)
			}
			return [3]any{src, dst, size}, err
		},
		wire.FrameNotePreferred: func(r wire.Reader, n uint32) (any, error) { return wire.ReadNotePreferred(r, n) },
		wire.FramePing:          func(r wire.Reader, n uint32) (any, error) { return wire.ReadPing(r, n) },
		wire.FrameClosePeer:     func(r wire.Reader, n uint32) (any, error) { return wire.ReadClosePeer(r, n) },
		wire.FrameWatchConns:    func(r wire.Reader, n uint32) (any, error) { return nil, wire.CheckEmpty(wire.FrameWatchConns, n) },
	}
	tests := []struct {
		name    string
		typ     wire.FrameType
		payload []byte
		n       uint32 // announced length when it differs from the payload's
		want    any
		wantErr error // nil, io.ErrUnexpectedEOF, or any *FrameError
	}{
		{name: "send", typ: wire.FrameSendPacket, payload: append(dst.AppendTo(nil), "pkt"...), want: [2]any{dst, 3}},
		{name: "send-empty-packet", typ: wire.FrameSendPacket, payload: dst.AppendTo(nil), want: [2]any{dst, 0}},
		{name: "send-short", typ: wire.FrameSendPacket, payload: make([]byte, 31), wantErr: &wire.FrameError{}},
		{name: "send-too-big", typ: wire.FrameSendPacket, n: wire.KeyLen + wire.MaxPacketSize + 1, wantErr: &wire.FrameError{}},
		{name: "send-cut", typ: wire.FrameSendPacket, payload: make([]byte, 10), n: 40, wantErr: io.ErrUnexpectedEOF},
		{name: "forward", typ: wire.FrameForwardPacket, payload: append(dst.AppendTo(src.AppendTo(nil)), "p"...), want: [3]any{src, dst, 1}},
		{name: "forward-short", typ: wire.FrameForwardPacket, payload: make([]byte, 63), wantErr: &wire.FrameError{}},
		{name: "note-preferred", typ: wire.FrameNotePreferred, payload: []byte{1}, want: true},
		{name: "note-not-preferred", typ: wire.FrameNotePreferred, payload: []byte{0}, want: false},
		{name: "note-two-bytes", typ: wire.FrameNotePreferred, payload: []byte{1, 1}, wantErr: &wire.FrameError{}},
		{name: "ping", typ: wire.FramePing, payload: []byte("12345678"), want: [8]byte([]byte("12345678"))},
		{name: "ping-long", typ: wire.FramePing, payload: []byte("12345678 and more"), want: [8]byte([]byte("12345678"))},
		{name: "ping-short", typ: wire.FramePing, payload: []byte("1234567"), wantErr: &wire.FrameError{}},
		{name: "ping-too-long", typ: wire.FramePing, n: wire.MaxPingLen + 1, wantErr: &wire.FrameError{}},
		{name: "close-peer", typ: wire.FrameClosePeer, payload: dst.AppendTo(nil), want: dst},
		{name: "close-peer-long", typ: wire.FrameClosePeer, payload: make([]byte, 33), wantErr: &wire.FrameError{}},
		{name: "watch-conns", typ: wire.FrameWatchConns},
		{name: "watch-conns-payload", typ: wire.FrameWatchConns, payload: []byte{0}, wantErr: &wire.FrameError{}},
	}
	next := wire.AppendFrameHeader(nil, wire.FrameKeepAlive, 0)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := tt.n
			if n == 0 {
				n = uint32(len(tt.payload))
			}
			in := append(wire.AppendFrameHeader(nil, tt.typ, n), tt.payload...)
			if tt.wantErr != io.ErrUnexpectedEOF {
				in = append(in, next...)
			}
			br := bufio.NewReader(bytes.NewReader(in))
			typ, n, err := wire.ReadFrameHeader(br)
			if err != nil || typ != tt.typ {
				t.Fatalf("header: %v %v", typ, err)
			}
			got, err := readers[typ](br, n)
			var fe *wire.FrameError
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("error %v", err)
			case tt.wantErr == io.ErrUnexpectedEOF && !errors.Is(err, io.ErrUnexpectedEOF):
				t.Fatalf("error %v, want %v", err, io.ErrUnexpectedEOF)
			case tt.wantErr != nil && tt.wantErr != io.ErrUnexpectedEOF:
				if !errors.As(err, &fe) || fe.Type != tt.typ {
					t.Fatalf("error %v, want a %v FrameError", err, tt.typ)
				}
				if br.Buffered() != len(in)-wire.FrameHeaderLen {
					t.Fatalf("a bad length read %d bytes of the body", len(in)-wire.FrameHeaderLen-br.Buffered())
				}
			case tt.wantErr == nil:
				if got != tt.want {
					t.Fatalf("got %v, want %v", got, tt.want)
				}
				if typ, _, err := wire.ReadFrameHeader(br); err != nil || typ != wire.FrameKeepAlive {
					t.Fatalf("next frame: %v %v, want KeepAlive", typ, err)
				}
			}
		})
	}
}

// TestPacketHeadsRoundTrip: what the Append*Head functions write, the
// readers and parsers read back, and each head is as long as its
// constant says.
func TestPacketHeadsRoundTrip(t *testing.T) {
	src := key.NodePublicFromRaw32(bytes.Repeat([]byte{3}, wire.KeyLen))
	dst := key.NodePublicFromRaw32(bytes.Repeat([]byte{4}, wire.KeyLen))
	pkt := []byte("the packet")
	read := func(t *testing.T, head []byte, wantLen int) *bufio.Reader {
		t.Helper()
		if len(head) != wantLen {
			t.Fatalf("head of %d bytes, want %d", len(head), wantLen)
		}
		return bufio.NewReader(bytes.NewReader(append(head, pkt...)))
	}
	t.Run("SendPacket", func(t *testing.T) {
		br := read(t, wire.AppendSendPacketHead(nil, dst, len(pkt)), wire.SendPacketHeadLen)
		typ, n, err := wire.ReadFrameHeader(br)
		if err != nil || typ != wire.FrameSendPacket {
			t.Fatalf("header %v %v", typ, err)
		}
		if gotDst, size, err := wire.ReadSendPacketHead(br, n); err != nil || gotDst != dst || size != len(pkt) {
			t.Fatalf("got %v %d %v", gotDst, size, err)
		}
	})
	t.Run("ForwardPacket", func(t *testing.T) {
		br := read(t, wire.AppendForwardPacketHead(nil, src, dst, len(pkt)), wire.ForwardPacketHeadLen)
		typ, n, err := wire.ReadFrameHeader(br)
		if err != nil || typ != wire.FrameForwardPacket {
			t.Fatalf("header %v %v", typ, err)
		}
		if gotSrc, gotDst, size, err := wire.ReadForwardPacketHead(br, n); err != nil || gotSrc != src || gotDst != dst || size != len(pkt) {
			t.Fatalf("got %v %v %d %v", gotSrc, gotDst, size, err)
		}
	})
	t.Run("RecvPacket", func(t *testing.T) {
		br := read(t, wire.AppendRecvPacketHead(nil, src, len(pkt)), wire.RecvPacketHeadLen)
		typ, p, err := wire.ReadFrame(br, wire.MaxServerFrameLen, nil)
		if err != nil || typ != wire.FrameRecvPacket {
			t.Fatalf("frame %v %v", typ, err)
		}
		if gotSrc, got, err := wire.ParseRecvPacket(p); err != nil || gotSrc != src || !bytes.Equal(got, pkt) {
			t.Fatalf("got %v %q %v", gotSrc, got, err)
		}
	})
}
