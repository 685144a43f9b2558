package client

import (
	"fmt"

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
	p, err := c.readHandshakeFrame(wire.FrameServerKey, maxServerKeyLen, "first frame")
	if err != nil {
		return key.NodePublic{}, err
	}
	return wire.ParseServerKey(p)
}

// readHandshakeFrame reads the next frame, which must be of type want
// (the frame's place in the handshake is named by what) and at most
// maxLen bytes long.
func (c *Client) readHandshakeFrame(want wire.FrameType, maxLen uint32, what string) ([]byte, error) {
	t, n, err := wire.ReadFrameHeader(c.br)
	if err != nil {
		return nil, fmt.Errorf("read %v: %w", want, err)
	}
	if t != want {
		return nil, fmt.Errorf("%s is %v (%d bytes), want %v", what, t, n, want)
	}
	return wire.ReadFrameBody(c.br, t, n, maxLen, nil)
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
	p, err := c.readHandshakeFrame(wire.FrameServerInfo, wire.MaxServerFrameLen, "frame after ServerKey")
	if err != nil {
		return wire.ServerInfo{}, err
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
