package client

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/relayctl/relayctl/relay/wire"
)

// expectBytes is a server script that reads exactly want and compares.
func expectBytes(want []byte) func(*fakeServer) error {
	return func(s *fakeServer) error {
		got := make([]byte, len(want))
		if _, err := io.ReadFull(s.br, got); err != nil {
			return fmt.Errorf("read %d bytes: %w", len(want), err)
		}
		if !bytes.Equal(got, want) {
			return fmt.Errorf("client wrote\n%x\nwant\n%x", got, want)
		}
		return nil
	}
}

func TestSendFrames(t *testing.T) {
	tests := []struct {
		name string
		send func(*Client) error
		want []byte
	}{
		{
			name: "send-packet",
			send: func(c *Client) error { return c.Send(peerPub, []byte("hello")) },
			want: cat(hexb("04 00000025"), raw(peerPub), []byte("hello")),
		},
		{
			name: "send-empty-packet",
			send: func(c *Client) error { return c.Send(peerPub, nil) },
			want: cat(hexb("04 00000020"), raw(peerPub)),
		},
		{
			name: "send-largest-packet",
			send: func(c *Client) error { return c.Send(peerPub, bytes.Repeat([]byte{7}, 65536)) },
			want: cat(hexb("04 00010020"), raw(peerPub), bytes.Repeat([]byte{7}, 65536)),
		},
		{
			name: "send-batch",
			send: func(c *Client) error {
				return c.SendBatch([]Packet{{peerPub, []byte("a")}, {otherPub, []byte("bc")}})
			},
			want: cat(hexb("04 00000021"), raw(peerPub), []byte("a"), hexb("04 00000022"), raw(otherPub), []byte("bc")),
		},
		{
			name: "forward-packet",
			send: func(c *Client) error { return c.ForwardPacket(peerPub, otherPub, []byte("fwd")) },
			want: cat(hexb("0a 00000043"), raw(peerPub), raw(otherPub), []byte("fwd")),
		},
		{
			name: "note-preferred-true",
			send: func(c *Client) error { return c.NotePreferred(true) },
			want: hexb("07 00000001 01"),
		},
		{
			name: "note-preferred-false",
			send: func(c *Client) error { return c.NotePreferred(false) },
			want: hexb("07 00000001 00"),
		},
		{
			name: "watch-conns",
			send: func(c *Client) error { return c.WatchConns() },
			want: hexb("10 00000000"),
		},
		{
			name: "close-peer",
			send: func(c *Client) error { return c.ClosePeer(peerPub) },
			want: cat(hexb("11 00000020"), raw(peerPub)),
		},
		{
			name: "ping",
			send: func(c *Client) error { return c.SendPing([8]byte([]byte("12345678"))) },
			want: cat(hexb("12 00000008"), []byte("12345678")),
		},
		{
			name: "pong",
			send: func(c *Client) error { return c.SendPong([8]byte([]byte("abcdefgh"))) },
			want: cat(hexb("13 00000008"), []byte("abcdefgh")),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, done := connectFake(t, Options{}, expectBytes(tt.want))
			if err := tt.send(c); err != nil {
				t.Fatalf("send: %v", err)
			}
			if err := waitScript(t, done); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestSendRefusesOversizedPacket(t *testing.T) {
	// Nothing of the refused packets may reach the wire: the server must
	// see the NotePreferred that follows them first.
	c, done := connectFake(t, Options{}, expectBytes(hexb("07 00000001 01")))
	big := make([]byte, wire.MaxPacketSize+1)
	for name, err := range map[string]error{
		"Send":          c.Send(peerPub, big),
		"ForwardPacket": c.ForwardPacket(peerPub, otherPub, big),
		"SendBatch":     c.SendBatch([]Packet{{peerPub, []byte("ok")}, {peerPub, big}}),
	} {
		if err == nil || !strings.Contains(err.Error(), "packet of 65537 bytes exceeds 65536") {
			t.Errorf("%s error = %v, want a size error", name, err)
		}
	}
	if err := c.NotePreferred(true); err != nil {
		t.Fatal(err)
	}
	if err := waitScript(t, done); err != nil {
		t.Error(err)
	}
}

// TestConcurrentUse checks that concurrent senders never interleave frames
// and that Recv runs alongside them (run with -race).
func TestConcurrentUse(t *testing.T) {
	const senders, perSender = 4, 50
	c, done := connectFake(t, Options{}, func(s *fakeServer) error {
		counts := map[byte]int{}
		for range senders * perSender {
			typ, p, err := s.readFrame()
			if err != nil {
				return err
			}
			if typ != wire.FrameSendPacket || len(p) != 32+100 || !bytes.Equal(p[32:], bytes.Repeat(p[32:33], 100)) {
				return fmt.Errorf("torn frame %v of %d bytes", typ, len(p))
			}
			counts[p[32]]++
			// Give Recv something to read meanwhile.
			if err := s.write(hexb("06 00000000")); err != nil {
				return err
			}
		}
		for id, n := range counts {
			if n != perSender {
				return fmt.Errorf("sender %d: %d packets, want %d", id, n, perSender)
			}
		}
		return nil
	})
	recvDone := make(chan error, 1)
	go func() {
		for range senders * perSender {
			if _, err := c.Recv(); err != nil {
				recvDone <- err
				return
			}
		}
		recvDone <- nil
	}()
	var wg sync.WaitGroup
	for id := range senders {
		wg.Go(func() {
			pkt := bytes.Repeat([]byte{byte(id)}, 100)
			for range perSender {
				if err := c.Send(peerPub, pkt); err != nil {
					t.Errorf("sender %d: %v", id, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := waitScript(t, done); err != nil {
		t.Fatal(err)
	}
	if err := <-recvDone; err != nil {
		t.Errorf("Recv: %v", err)
	}
}
