package client

import (
	"fmt"
	"io"

	"github.com/relayctl/relayctl/relay/key"
	"github.com/relayctl/relayctl/relay/wire"
)

// maxServerKeyLen is the longest ServerKey frame accepted; the bytes after
// magic and key are reserved for future use and ignored.
const maxServerKeyLen = 1024

func clientInfo(opts Options) wire.ClientInfo {
	return wire.ClientInfo{
		MeshKey:     opts.MeshKey,
		Version:     wire.ProtocolVersion,
		CanAckPings: opts.CanAckPings,
		IsProber:    opts.IsProber,
		AppName:     opts.AppName,
	}
}

// handshake runs the DERP key exchange:
//
//	S→C ServerKey   magic ‖ server_pub
//	C→S ClientInfo  client_pub ‖ nonce ‖ box(JSON)
//	S→C ServerInfo  nonce ‖ box(JSON), always the next server frame
//
// After a TLS fast start (fastStartKey non-zero, taken from the server's
// metacert) ClientInfo has already been sent with the upgrade request; the
// ServerKey frame still comes first and must name the same key.
func (c *Client) handshake(info wire.ClientInfo, fastStartKey key.NodePublic) error {
	server, err := c.readServerKey()
	if err != nil {
		return err
	}
	c.server = server
	if fastStartKey.IsZero() {
		if err := c.sendClientInfo(info); err != nil {
			return err
		}
	} else if server != fastStartKey {
		return fmt.Errorf("ServerKey %s differs from the key %s in the server's TLS metacert", server.ShortString(), fastStartKey.ShortString())
	}
	c.info, err = c.readServerInfo()
	return err
}

func (c *Client) readServerKey() (key.NodePublic, error) {
	t, n, err := readFrameHeader(c.br)
	if err != nil {
		return key.NodePublic{}, fmt.Errorf("read ServerKey: %w", err)
	}
	if t != wire.FrameServerKey {
		return key.NodePublic{}, fmt.Errorf("first frame is %v (%d bytes), want ServerKey", t, n)
	}
	if n < uint32(len(wire.Magic)+wire.KeyLen) || n > maxServerKeyLen {
		return key.NodePublic{}, fmt.Errorf("ServerKey frame of %d bytes, want %d to %d", n, len(wire.Magic)+wire.KeyLen, maxServerKeyLen)
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(c.br, p); err != nil {
		return key.NodePublic{}, fmt.Errorf("read ServerKey: %w", err)
	}
	return wire.ParseServerKey(p)
}

func (c *Client) sendClientInfo(info wire.ClientInfo) error {
	p, err := wire.SealClientInfoWith(c.pub, c.sharedKey(), info)
	if err != nil {
		return err
	}
	if err := wire.WriteFrame(c.bw, wire.FrameClientInfo, p); err != nil {
		return fmt.Errorf("write ClientInfo: %w", err)
	}
	if err := c.bw.Flush(); err != nil {
		return fmt.Errorf("write ClientInfo: %w", err)
	}
	return nil
}

func (c *Client) readServerInfo() (wire.ServerInfo, error) {
	t, n, err := readFrameHeader(c.br)
	if err != nil {
		return wire.ServerInfo{}, fmt.Errorf("read ServerInfo: %w", err)
	}
	if t != wire.FrameServerInfo {
		return wire.ServerInfo{}, fmt.Errorf("frame after ServerKey is %v (%d bytes), want ServerInfo", t, n)
	}
	if n > wire.MaxServerFrameLen {
		return wire.ServerInfo{}, fmt.Errorf("ServerInfo frame of %d bytes: %w (limit %d)", n, wire.ErrFrameTooLarge, wire.MaxServerFrameLen)
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(c.br, p); err != nil {
		return wire.ServerInfo{}, fmt.Errorf("read ServerInfo: %w", err)
	}
	return wire.OpenServerInfoWith(c.sharedKey(), p)
}

// sharedKey is the box key with the server, computed once for both
// handshake messages.
func (c *Client) sharedKey() key.SharedKey {
	if c.sharedFor != c.server {
		c.shared, c.sharedFor = c.priv.Shared(c.server), c.server
	}
	return c.shared
}
