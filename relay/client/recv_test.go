package client

import (
	"bytes"
	"errors"
	"io"
	"net/netip"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/relayctl/relayctl/relay/wire"
)

// recvAll reads n messages, copying packets since Recv reuses them.
func recvAll(t *testing.T, c *Client, n int) []Message {
	t.Helper()
	var got []Message
	for range n {
		m, err := c.Recv()
		if err != nil {
			t.Fatalf("Recv after %d messages: %v", len(got), err)
		}
		if p, ok := m.(*ReceivedPacket); ok {
			m = &ReceivedPacket{Source: p.Source, Data: bytes.Clone(p.Data)}
		}
		got = append(got, m)
	}
	return got
}

func TestRecv(t *testing.T) {
	keepAlive := hexb("06 00000000")
	tests := []struct {
		name string
		in   []byte
		want []Message
	}{
		{
			name: "recv-packet",
			in:   cat(hexb("05 00000025"), raw(peerPub), []byte("hello")),
			want: []Message{&ReceivedPacket{Source: peerPub, Data: []byte("hello")}},
		},
		{
			name: "recv-packet-empty",
			in:   cat(hexb("05 00000020"), raw(peerPub)),
			want: []Message{&ReceivedPacket{Source: peerPub, Data: []byte{}}},
		},
		{
			name: "recv-packet-short",
			in:   cat(hexb("05 0000001f"), raw(peerPub)[:31]),
			want: []Message{MalformedFrame{Type: wire.FrameRecvPacket, Len: 31}},
		},
		{
			name: "peer-gone-33-not-here",
			in:   cat(hexb("08 00000021"), raw(peerPub), hexb("01")),
			want: []Message{PeerGone{Key: peerPub, Reason: wire.PeerGoneNotHere}},
		},
		{
			name: "peer-gone-32-old-form",
			in:   cat(hexb("08 00000020"), raw(peerPub)),
			want: []Message{PeerGone{Key: peerPub, Reason: wire.PeerGoneDisconnected}},
		},
		{
			name: "peer-gone-short",
			in:   cat(hexb("08 00000010"), raw(peerPub)[:16]),
			want: []Message{MalformedFrame{Type: wire.FramePeerGone, Len: 16}},
		},
		{
			name: "peer-present-51",
			in:   cat(hexb("09 00000033"), raw(peerPub), hexb("00000000 00000000 0000ffff 7f000001  d431  02")),
			want: []Message{PeerPresent{Key: peerPub, Addr: netip.MustParseAddrPort("127.0.0.1:54321"), Flags: wire.PeerPresentIsMeshPeer}},
		},
		{
			name: "peer-present-v1.104-app-name",
			in:   cat(hexb("09 00000036"), raw(peerPub), hexb("20010db8 00000000 00000000 00000001  0050  09  02"), []byte("ab")),
			want: []Message{PeerPresent{Key: peerPub, Addr: netip.MustParseAddrPort("[2001:db8::1]:80"), Flags: wire.PeerPresentIsRegular | wire.PeerPresentNotIdeal}},
		},
		{
			name: "peer-present-key-only",
			in:   cat(hexb("09 00000020"), raw(peerPub)),
			want: []Message{PeerPresent{Key: peerPub}},
		},
		{
			name: "keepalive",
			in:   keepAlive,
			want: []Message{KeepAlive{}},
		},
		{
			name: "ping",
			in:   cat(hexb("12 00000008"), []byte("12345678")),
			want: []Message{Ping{Data: [8]byte([]byte("12345678"))}},
		},
		{
			name: "pong",
			in:   cat(hexb("13 00000008"), []byte("abcdefgh")),
			want: []Message{Pong{Data: [8]byte([]byte("abcdefgh"))}},
		},
		{
			name: "pong-short",
			in:   cat(hexb("13 00000007"), []byte("abcdefg")),
			want: []Message{MalformedFrame{Type: wire.FramePong, Len: 7}},
		},
		{
			name: "health",
			in:   cat(hexb("14 00000009"), []byte("overload!"), hexb("14 00000000")),
			want: []Message{Health{Problem: "overload!"}, Health{}},
		},
		{
			name: "restarting",
			in:   cat(hexb("15 00000008"), hexb("000003e8 00007530")),
			want: []Message{Restarting{ReconnectInMillis: 1000, TryForMillis: 30000}},
		},
		{
			name: "restarting-short",
			in:   hexb("15 00000004 000003e8"),
			want: []Message{MalformedFrame{Type: wire.FrameRestarting, Len: 4}},
		},
		{
			name: "unknown-type-skipped",
			in:   cat(hexb("7f 00000003 aabbcc"), keepAlive),
			want: []Message{UnknownFrame{Type: 0x7f, Len: 3}, KeepAlive{}},
		},
		{
			name: "late-server-info-is-unknown",
			in:   cat(hexb("03 00000002 aabb"), keepAlive),
			want: []Message{UnknownFrame{Type: wire.FrameServerInfo, Len: 2}, KeepAlive{}},
		},
		{
			name: "largest-frame-skipped",
			in:   cat(hexb("7e 00100000"), make([]byte, 1<<20), keepAlive),
			want: []Message{UnknownFrame{Type: 0x7e, Len: 1 << 20}, KeepAlive{}},
		},
		{
			name: "packets-back-to-back",
			in: cat(hexb("05 00000021"), raw(peerPub), []byte("a"),
				hexb("05 00000022"), raw(otherPub), []byte("bc")),
			want: []Message{
				&ReceivedPacket{Source: peerPub, Data: []byte("a")},
				&ReceivedPacket{Source: otherPub, Data: []byte("bc")},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, done := connectFake(t, Options{}, func(s *fakeServer) error { return s.write(tt.in) })
			got := recvAll(t, c, len(tt.want))
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %#v\nwant %#v", got, tt.want)
			}
			if err := waitScript(t, done); err != nil {
				t.Errorf("server: %v", err)
			}
		})
	}
}

func TestRecvReusesPacket(t *testing.T) {
	c, _ := connectFake(t, Options{}, func(s *fakeServer) error {
		return s.write(cat(hexb("05 00000021"), raw(peerPub), []byte("a"),
			hexb("05 00000021"), raw(otherPub), []byte("b")))
	})
	first, err := c.Recv()
	if err != nil {
		t.Fatal(err)
	}
	firstData := first.(*ReceivedPacket).Data
	if _, err := c.Recv(); err != nil {
		t.Fatal(err)
	}
	// Documented behaviour: the first packet's view now shows the second.
	if got := first.(*ReceivedPacket); got.Source != otherPub || string(firstData) != "b" {
		t.Errorf("first packet after second Recv = %v %q, want the second packet", got.Source, firstData)
	}
}

func TestRecvErrors(t *testing.T) {
	tests := []struct {
		name    string
		script  func(*fakeServer) error
		wantIs  error
		wantErr string
	}{
		{
			name:    "oversized-frame",
			script:  func(s *fakeServer) error { return s.write(hexb("05 00100001")) },
			wantIs:  wire.ErrFrameTooLarge,
			wantErr: "RecvPacket frame of 1048577 bytes",
		},
		{
			name:   "eof-between-frames",
			script: func(s *fakeServer) error { return s.conn.Close() },
			wantIs: io.EOF,
		},
		{
			name: "eof-inside-frame",
			script: func(s *fakeServer) error {
				if err := s.write(hexb("05 00000025"), raw(peerPub)); err != nil {
					return err
				}
				return s.conn.Close()
			},
			wantIs: io.ErrUnexpectedEOF,
		},
		{
			name: "eof-inside-skipped-frame",
			script: func(s *fakeServer) error {
				if err := s.write(hexb("7f 00000010 aa")); err != nil {
					return err
				}
				return s.conn.Close()
			},
			wantIs: io.ErrUnexpectedEOF,
		},
		{
			name: "eof-inside-header",
			script: func(s *fakeServer) error {
				if err := s.write(hexb("05 0000")); err != nil {
					return err
				}
				return s.conn.Close()
			},
			wantIs: io.ErrUnexpectedEOF,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, done := connectFake(t, Options{}, tt.script)
			m, err := c.Recv()
			if err == nil {
				t.Fatalf("Recv = %#v, want an error", m)
			}
			if !errors.Is(err, tt.wantIs) {
				t.Errorf("error %q is not %v", err, tt.wantIs)
			}
			if !strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), "derp pipe: recv: ") {
				t.Errorf("error %q: want prefix %q and %q", err, "derp pipe: recv: ", tt.wantErr)
			}
			if _, again := c.Recv(); again != err {
				t.Errorf("second Recv error = %v, want the first one again", again)
			}
			if err := waitScript(t, done); err != nil {
				t.Errorf("server: %v", err)
			}
		})
	}
}

func TestRecvTimeout(t *testing.T) {
	c, _ := connectFake(t, Options{RecvTimeout: 20 * time.Millisecond}, func(*fakeServer) error { return nil })
	_, err := c.Recv()
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("Recv error = %v, want a deadline error", err)
	}
}

func TestCloseEndsRecv(t *testing.T) {
	c, _ := connectFake(t, Options{}, func(*fakeServer) error { return nil })
	errc := make(chan error, 1)
	go func() {
		_, err := c.Recv()
		errc <- err
	}()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if err == nil {
			t.Error("Recv after Close returned no error")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Recv did not return after Close")
	}
}
