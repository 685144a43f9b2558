package client

import (
	"fmt"
	"io"
	"time"

	"github.com/relayctl/relayctl/relay/wire"
)

// maxKeptReadBuffer is the largest read buffer kept between Recv calls:
// enough for any packet frame. Larger (non-packet) frames get a one-off
// buffer.
const maxKeptReadBuffer = wire.KeyLen + wire.MaxPacketSize

// Recv reads the next frame from the server. Only one goroutine may call it
// at a time. A returned *ReceivedPacket, and its Data, are reused by the
// next Recv. After an error every later call returns the same error.
func (c *Client) Recv() (Message, error) {
	if c.readErr != nil {
		return nil, c.readErr
	}
	m, err := c.recv()
	if err != nil {
		c.readErr = c.errorf("recv: %w", err)
		return nil, c.readErr
	}
	return m, nil
}

func (c *Client) recv() (Message, error) {
	if c.recvTimeout > 0 {
		// Some conns (net.Pipe) refuse deadlines once the peer has gone;
		// the read below then reports what happened.
		c.conn.SetReadDeadline(time.Now().Add(c.recvTimeout))
	}
	t, n, err := wire.ReadFrameHeader(c.br)
	if err != nil {
		return nil, err
	}
	if n > wire.MaxServerFrameLen {
		return nil, fmt.Errorf("%v frame of %d bytes: %w (limit %d)", t, n, wire.ErrFrameTooLarge, wire.MaxServerFrameLen)
	}
	if !knownServerFrame(t) {
		if _, err := c.br.Discard(int(n)); err != nil {
			return nil, fmt.Errorf("skip %v frame of %d bytes: %w", t, n, unexpectedEOF(err))
		}
		return UnknownFrame{Type: t, Len: int(n)}, nil
	}
	p, err := wire.ReadFrameBody(c.br, t, n, wire.MaxServerFrameLen, c.rbuf)
	if err != nil {
		return nil, err
	}
	if cap(p) > cap(c.rbuf) && cap(p) <= maxKeptReadBuffer {
		c.rbuf = p
	}
	return c.parse(t, p), nil
}

func knownServerFrame(t wire.FrameType) bool {
	switch t {
	case wire.FrameRecvPacket, wire.FrameKeepAlive, wire.FramePeerGone, wire.FramePeerPresent,
		wire.FramePing, wire.FramePong, wire.FrameHealth, wire.FrameRestarting:
		return true
	}
	return false
}

func (c *Client) parse(t wire.FrameType, p []byte) Message {
	malformed := MalformedFrame{Type: t, Len: len(p)}
	switch t {
	case wire.FrameRecvPacket:
		src, data, err := wire.ParseRecvPacket(p)
		if err != nil {
			return malformed
		}
		c.pkt = ReceivedPacket{Source: src, Data: data}
		return &c.pkt
	case wire.FrameKeepAlive:
		return KeepAlive{}
	case wire.FramePeerGone:
		k, reason, err := wire.ParsePeerGone(p)
		if err != nil {
			return malformed
		}
		return PeerGone{Key: k, Reason: reason}
	case wire.FramePeerPresent:
		pp, err := wire.ParsePeerPresent(p)
		if err != nil {
			return malformed
		}
		return PeerPresent(pp)
	case wire.FramePing, wire.FramePong:
		data, err := wire.ParsePingData(p)
		if err != nil {
			return malformed
		}
		if t == wire.FramePing {
			return Ping{Data: data}
		}
		return Pong{Data: data}
	case wire.FrameHealth:
		return Health{Problem: string(p)}
	case wire.FrameRestarting:
		r, err := wire.ParseRestarting(p)
		if err != nil {
			return malformed
		}
		return Restarting(r)
	}
	return UnknownFrame{Type: t, Len: len(p)}
}

func unexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
