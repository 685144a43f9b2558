package client

import (
	"fmt"
	"time"

	"github.com/relayctl/relayctl/relay/key"
	"github.com/relayctl/relayctl/relay/wire"
)

// Packet is one packet for SendBatch.
type Packet struct {
	Dst  key.NodePublic
	Data []byte
}

// Send asks the server to deliver pkt to dst. A packet the server cannot
// deliver is dropped without notice (disco packets excepted, see PeerGone).
func (c *Client) Send(dst key.NodePublic, pkt []byte) error {
	if err := checkPacketSize(pkt); err != nil {
		return c.errorf("send to %s: %w", dst.ShortString(), err)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.writeSendPacket(dst, pkt)
	if err := c.flush(); err != nil {
		return c.errorf("send to %s: %w", dst.ShortString(), err)
	}
	return nil
}

// SendBatch writes several SendPacket frames with a single flush, for load
// generators that care about system calls more than latency. Sizes are
// checked before anything is written.
func (c *Client) SendBatch(pkts []Packet) error {
	for _, p := range pkts {
		if err := checkPacketSize(p.Data); err != nil {
			return c.errorf("send batch to %s: %w", p.Dst.ShortString(), err)
		}
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	for _, p := range pkts {
		c.writeSendPacket(p.Dst, p.Data)
	}
	if err := c.flush(); err != nil {
		return c.errorf("send batch of %d packets: %w", len(pkts), err)
	}
	return nil
}

// writeSendPacket buffers one frame. bufio.Writer errors are sticky, so the
// caller's Flush reports any failure.
func (c *Client) writeSendPacket(dst key.NodePublic, pkt []byte) {
	c.bw.Write(wire.AppendSendPacketHead(c.scratch[:0], dst, len(pkt)))
	c.bw.Write(pkt)
}

// Forwarded is one packet for ForwardBatch.
type Forwarded = wire.ForwardedPacket

// ForwardBatch writes several ForwardPacket frames with a single flush:
// how a mesh forwarder drains its queue.
func (c *Client) ForwardBatch(pkts []Forwarded) error {
	for _, p := range pkts {
		if err := checkPacketSize(p.Data); err != nil {
			return c.errorf("forward %s→%s: %w", p.Src.ShortString(), p.Dst.ShortString(), err)
		}
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.gather != nil {
		// The batch's TLS records (one per 16 KiB) leave together.
		n := 0
		for _, p := range pkts {
			n += wire.ForwardPacketHeadLen + len(p.Data)
		}
		c.gather.Hold(n)
	}
	for _, p := range pkts {
		c.writeForwardPacket(p.Src, p.Dst, p.Data)
	}
	err := c.flush()
	if c.gather != nil {
		if rerr := c.gather.Release(); err == nil {
			err = rerr
		}
	}
	if err != nil {
		return c.errorf("forward batch of %d packets: %w", len(pkts), err)
	}
	return nil
}

func (c *Client) writeForwardPacket(src, dst key.NodePublic, pkt []byte) {
	c.bw.Write(wire.AppendForwardPacketHead(c.scratch[:0], src, dst, len(pkt)))
	c.bw.Write(pkt)
}

// flush writes what is buffered, within the write timeout if one is set.
// Callers hold wmu.
func (c *Client) flush() error {
	if c.writeTimeout > 0 && c.bw.Buffered() > 0 {
		c.conn.SetWriteDeadline(time.Now().Add(c.writeTimeout))
	}
	return c.bw.Flush()
}

// ForwardPacket hands the server a packet from src to dst that this mesh
// peer received on src's behalf. It needs the mesh key.
func (c *Client) ForwardPacket(src, dst key.NodePublic, pkt []byte) error {
	if err := checkPacketSize(pkt); err != nil {
		return c.errorf("forward %s→%s: %w", src.ShortString(), dst.ShortString(), err)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.writeForwardPacket(src, dst, pkt)
	if err := c.flush(); err != nil {
		return c.errorf("forward %s→%s: %w", src.ShortString(), dst.ShortString(), err)
	}
	return nil
}

// NotePreferred tells the server whether it is this client's home relay.
func (c *Client) NotePreferred(preferred bool) error {
	var v byte
	if preferred {
		v = 1
	}
	return c.writeControl(wire.FrameNotePreferred, v)
}

// WatchConns subscribes to PeerPresent and PeerGone news of every client on
// the server. It needs the mesh key; without it the server hangs up.
func (c *Client) WatchConns() error { return c.writeControl(wire.FrameWatchConns) }

// ClosePeer asks the server to disconnect every connection of k. It needs
// the mesh key. The server replies with nothing.
func (c *Client) ClosePeer(k key.NodePublic) error {
	raw := k.Raw32()
	return c.writeControl(wire.FrameClosePeer, raw[:]...)
}

// SendPing asks the server to echo data in a Pong.
func (c *Client) SendPing(data [8]byte) error { return c.writeControl(wire.FramePing, data[:]...) }

// SendPong answers a Ping from the server.
func (c *Client) SendPong(data [8]byte) error { return c.writeControl(wire.FramePong, data[:]...) }

// writeControl writes a small frame (at most two keys long) and flushes.
func (c *Client) writeControl(t wire.FrameType, payload ...byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	b := wire.AppendFrameHeader(c.scratch[:0], t, uint32(len(payload)))
	b = append(b, payload...)
	c.bw.Write(b)
	if err := c.flush(); err != nil {
		return c.errorf("write %v: %w", t, err)
	}
	return nil
}

func checkPacketSize(pkt []byte) error {
	if len(pkt) > wire.MaxPacketSize {
		return fmt.Errorf("packet of %d bytes exceeds %d", len(pkt), wire.MaxPacketSize)
	}
	return nil
}
