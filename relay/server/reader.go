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

// protoErr is a client breaking the protocol in a way only the server
// sees (wire's readers report layout violations the same way); it closes
// only that client's connection.
func protoErr(t wire.FrameType, format string, args ...any) error {
	return &wire.FrameError{Type: t, Msg: fmt.Sprintf(format, args...)}
}

// homeMoveGrace: NotePreferred changes this soon after connecting are the
// client announcing its state, not moving home (derper counts likewise).
const homeMoveGrace = 5 * time.Second

// readLoop reads and acts on frames until the connection fails or the
// client breaks the protocol.
func (c *sclient) readLoop() error {
	for {
		t, n, err := wire.ReadFrameHeader(&c.rd)
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
			err = c.handleNotePreferred(n)
		case wire.FramePing:
			err = c.handlePing(n)
		case wire.FrameWatchConns:
			err = c.handleWatchConns(n)
		case wire.FrameClosePeer:
			err = c.handleClosePeer(n)
		default:
			err = c.skipFrame(t, n)
		}
		if err != nil {
			return err
		}
	}
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
	_, err := c.rd.Discard(int(n))
	return err
}

// readPacket reads the size bytes of a packet frame's packet into a pooled
// buffer, which the caller then owns.
func (c *sclient) readPacket(size int) (*[]byte, error) {
	buf := packetbuf.Get(size)
	if err := c.rd.readFull(*buf); err != nil {
		packetbuf.Put(buf)
		return nil, err
	}
	return buf, nil
}

func (c *sclient) handleSendPacket(n uint32) error {
	dst, size, err := wire.ReadSendPacketHead(&c.rd, n)
	if err != nil {
		return err
	}
	buf, err := c.readPacket(size)
	if err != nil {
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
	src, dst, size, err := wire.ReadForwardPacketHead(&c.rd, n)
	if err != nil {
		return err
	}
	buf, err := c.readPacket(size)
	if err != nil {
		return err
	}
	c.s.metrics.forwardedIn.Inc()
	c.route(src, dst, buf, wire.IsDisco(*buf), true)
	return nil
}

func (c *sclient) handleNotePreferred(n uint32) error {
	preferred, err := wire.ReadNotePreferred(&c.rd, n)
	if err != nil {
		return err
	}
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

func (c *sclient) handlePing(n uint32) error {
	data, err := wire.ReadPing(&c.rd, n)
	if err != nil {
		return err
	}
	c.s.metrics.gotPing.Inc()
	c.queuePong(data)
	return nil
}

func (c *sclient) handleWatchConns(n uint32) error {
	if err := wire.CheckEmpty(wire.FrameWatchConns, n); err != nil {
		return err
	}
	if !c.canMesh {
		return noMeshKeyErr(wire.FrameWatchConns)
	}
	c.s.addWatcher(c)
	return nil
}

func (c *sclient) handleClosePeer(n uint32) error {
	target, err := wire.ReadClosePeer(&c.rd, n)
	if err != nil {
		return err
	}
	if !c.canMesh {
		return noMeshKeyErr(wire.FrameClosePeer)
	}
	c.s.closePeer(target, c)
	return nil
}
