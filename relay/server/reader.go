package server

import (
	"fmt"
	"io"
	"net"
	"time"

	"golang.org/x/time/rate"

	"github.com/relayctl/relayctl/internal/packetbuf"
	"github.com/relayctl/relayctl/relay/key"
	"github.com/relayctl/relayctl/relay/wire"
)

// protocolError is a client breaking the protocol; it closes only that
// client's connection.
type protocolError struct {
	frame wire.FrameType
	msg   string
}

func (e *protocolError) Error() string { return fmt.Sprintf("%v frame: %s", e.frame, e.msg) }

func protoErr(t wire.FrameType, format string, args ...any) error {
	return &protocolError{t, fmt.Sprintf(format, args...)}
}

// homeMoveGrace: NotePreferred changes this soon after connecting are the
// client announcing its state, not moving home (derper counts likewise).
const homeMoveGrace = 5 * time.Second

// readLoop reads and acts on frames until the connection fails or the
// client breaks the protocol.
func (c *sclient) readLoop() error {
	var small [wire.KeyLen]byte // scratch for short control frames
	for {
		t, n, err := c.rd.header()
		if err != nil {
			return err
		}
		if c.isDup.Load() {
			c.s.noteSender(c)
		}
		if cfg := c.s.rateCfg.Load(); cfg != nil && !c.canMesh && !c.throttle(cfg, n) {
			return net.ErrClosed
		}
		switch t {
		case wire.FrameSendPacket:
			err = c.handleSendPacket(n)
		case wire.FrameForwardPacket:
			err = c.handleForwardPacket(n)
		case wire.FrameNotePreferred:
			err = c.handleNotePreferred(n, small[:])
		case wire.FramePing:
			err = c.handlePing(n, small[:])
		case wire.FrameWatchConns:
			err = c.handleWatchConns(n)
		case wire.FrameClosePeer:
			err = c.handleClosePeer(n, small[:])
		default:
			err = c.skipFrame(t, n)
		}
		if err != nil {
			return err
		}
	}
}

// readBody reads an n-byte control payload into scratch after checking its
// size against [min, max].
func (c *sclient) readBody(t wire.FrameType, n uint32, minLen, maxLen int, scratch []byte) ([]byte, error) {
	if int64(n) < int64(minLen) || int64(n) > int64(maxLen) {
		return nil, protoErr(t, "length %d, want %d to %d", n, minLen, maxLen)
	}
	// Only as much as scratch holds is kept (a Ping's bytes past the 8
	// echoed are skipped).
	keep := min(int(n), len(scratch))
	b := scratch[:keep]
	if err := c.rd.readFull(b); err != nil {
		return nil, err
	}
	if err := c.rd.discard(int(n) - keep); err != nil {
		return nil, err
	}
	return b, nil
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

func (c *sclient) skipFrame(t wire.FrameType, n uint32) error {
	if n > wire.MaxClientFrameLen {
		return protoErr(t, "unknown frame type with length %d over the %d limit", n, wire.MaxClientFrameLen)
	}
	c.s.metrics.unknownFrames.Inc()
	return c.rd.discard(int(n))
}

// readKey reads a 32-byte key straight out of the read buffer.
func (c *sclient) readKey() (key.NodePublic, error) {
	b, err := c.rd.peek(wire.KeyLen)
	if err != nil {
		return key.NodePublic{}, err
	}
	k := key.NodePublicFromRaw32(b)
	c.rd.skip(wire.KeyLen)
	return k, nil
}

func (c *sclient) handleSendPacket(n uint32) error {
	if n < wire.KeyLen {
		return protoErr(wire.FrameSendPacket, "short frame of %d bytes", n)
	}
	if n-wire.KeyLen > wire.MaxPacketSize {
		return protoErr(wire.FrameSendPacket, "packet of %d bytes over the %d limit", n-wire.KeyLen, wire.MaxPacketSize)
	}
	dst, err := c.readKey()
	if err != nil {
		return err
	}
	buf := packetbuf.Get(int(n - wire.KeyLen))
	if err := c.rd.readFull(*buf); err != nil {
		packetbuf.Put(buf)
		return err
	}
	m := c.s.metrics
	disco := wire.IsDisco(*buf)
	m.packetsReceived.Inc()
	m.bytesReceived.Add(int64(len(*buf)))
	if disco {
		m.packetsRecvDisco.Inc()
	} else {
		m.packetsRecvOther.Inc()
	}
	c.route(c.key, dst, buf, disco, false)
	return nil
}

// route delivers a packet from src to dst: to dst's active local
// connection, or to the mesh peer that has dst. It owns buf.
func (c *sclient) route(src, dst key.NodePublic, buf *[]byte, disco, forwarded bool) {
	s := c.s
	if !c.canMesh || forwarded {
		if ap := s.access.Load(); ap != nil && !ap.allows(src, dst) {
			s.metrics.drop(dropACLDenied, disco, len(*buf))
			packetbuf.Put(buf)
			return
		}
	}
	to, known := s.lookup(dst)
	switch {
	case to != nil:
		if forwarded {
			c.noteForwarded(src, to)
		} else if prev, ok := c.sentTo[dst]; !ok || to.connNum < prev {
			if c.sentTo == nil {
				c.sentTo = make(map[key.NodePublic]uint64)
			}
			c.sentTo[dst] = to.connNum
		}
		to.enqueue(src, buf, disco)
	case known:
		s.metrics.drop(dropDupClient, disco, len(*buf))
		packetbuf.Put(buf)
	case !forwarded && s.forwardTo(src, dst, buf):
		// Another node of the region has dst. Forwarded packets are never
		// forwarded again: one hop, no loops.
	default:
		reason := dropUnknownDest
		if forwarded {
			reason = dropUnknownDestOnFwd
		}
		s.metrics.drop(reason, disco, len(*buf))
		packetbuf.Put(buf)
		if disco {
			c.notHere(dst)
		}
	}
}

// notHere tells the sender, at a limited rate, that dst is not here, so a
// client stops sending disco probes to a peer that has left.
func (c *sclient) notHere(dst key.NodePublic) {
	if c.notHereLimiter == nil {
		c.notHereLimiter = rate.NewLimiter(1, 3)
	}
	if c.notHereLimiter.Allow() {
		c.queuePeerGone(dst, wire.PeerGoneNotHere)
	}
}

func (c *sclient) handleForwardPacket(n uint32) error {
	if !c.canMesh {
		return noMeshKeyErr(wire.FrameForwardPacket)
	}
	if n < 2*wire.KeyLen {
		return protoErr(wire.FrameForwardPacket, "short frame of %d bytes", n)
	}
	if n-2*wire.KeyLen > wire.MaxPacketSize {
		return protoErr(wire.FrameForwardPacket, "packet of %d bytes over the %d limit", n-2*wire.KeyLen, wire.MaxPacketSize)
	}
	src, err := c.readKey()
	if err != nil {
		return err
	}
	dst, err := c.readKey()
	if err != nil {
		return err
	}
	buf := packetbuf.Get(int(n - 2*wire.KeyLen))
	if err := c.rd.readFull(*buf); err != nil {
		packetbuf.Put(buf)
		return err
	}
	c.s.metrics.forwardedIn.Inc()
	c.route(src, dst, buf, wire.IsDisco(*buf), true)
	return nil
}

func (c *sclient) handleNotePreferred(n uint32, scratch []byte) error {
	b, err := c.readBody(wire.FrameNotePreferred, n, 1, 1, scratch)
	if err != nil {
		return err
	}
	preferred := b[0] != 0
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if preferred == c.preferred {
		return nil
	}
	c.preferred = preferred
	if preferred {
		s.metrics.homeConns.Add(1)
	} else {
		s.metrics.homeConns.Add(-1)
	}
	if time.Since(c.connected) > homeMoveGrace {
		if preferred {
			s.metrics.homeMovesIn.Inc()
		} else {
			s.metrics.homeMovesOut.Inc()
		}
	}
	return nil
}

func (c *sclient) handlePing(n uint32, scratch []byte) error {
	b, err := c.readBody(wire.FramePing, n, wire.PingLen, wire.MaxPingLen, scratch)
	if err != nil {
		return err
	}
	c.s.metrics.gotPing.Inc()
	c.queuePong([wire.PingLen]byte(b[:wire.PingLen]))
	return nil
}

func (c *sclient) handleWatchConns(n uint32) error {
	if n != 0 {
		return protoErr(wire.FrameWatchConns, "length %d, want 0", n)
	}
	if !c.canMesh {
		return noMeshKeyErr(wire.FrameWatchConns)
	}
	c.s.addWatcher(c)
	return nil
}

func (c *sclient) handleClosePeer(n uint32, scratch []byte) error {
	b, err := c.readBody(wire.FrameClosePeer, n, wire.KeyLen, wire.KeyLen, scratch)
	if err != nil {
		return err
	}
	if !c.canMesh {
		return noMeshKeyErr(wire.FrameClosePeer)
	}
	c.s.closePeer(key.NodePublicFromRaw32(b), c)
	return nil
}
