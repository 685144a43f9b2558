// Package client is relayctl's DERP client: it dials a relay over HTTP(S) or
// WebSocket, performs the key handshake, and then sends and receives frames.
// It is the client that probe, prune, bench and mesh forwarding build on, so
// it reports everything a server sends (unknown and malformed frames
// included) and leaves policy such as answering pings to its caller.
package client

import (
	"bufio"
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/relayctl/relayctl/internal/sockbuf"
	"github.com/relayctl/relayctl/relay/key"
	"github.com/relayctl/relayctl/relay/wire"
)

// DefaultRecvTimeout is how long Recv waits for a frame before failing, as
// Tailscale's client does; servers send a KeepAlive every 60-65 s.
const DefaultRecvTimeout = 120 * time.Second

// Options tune a connection. The zero value is a regular client.
type Options struct {
	// MeshKey, when set, asks the server for mesh privileges (WatchConns,
	// ClosePeer, ForwardPacket).
	MeshKey key.MeshKey
	// IsProber marks the connection as a monitoring client.
	IsProber bool
	// CanAckPings tells the server this client answers Ping frames. The
	// client does not answer them by itself: Recv returns Ping and the
	// caller decides whether to SendPong.
	CanAckPings bool
	// AppName is an opaque label for the server's statistics.
	AppName string
	// TLSConfig is used for https:// and wss:// URLs. Nil means the system
	// roots; an empty ServerName is taken from the URL's host.
	TLSConfig *tls.Config
	// Dialer opens the TCP connection. Nil means a net.Dialer.
	Dialer func(ctx context.Context, network, addr string) (net.Conn, error)
	// WebSocket selects the WebSocket transport (subprotocol "derp") instead
	// of "Upgrade: DERP". ws:// and wss:// URLs imply it.
	WebSocket bool
	// Header holds extra request headers, e.g. Ideal-Node. It cannot
	// override Connection or Upgrade.
	Header http.Header
	// RecvTimeout bounds each Recv call's wait for a frame. Zero means
	// DefaultRecvTimeout; negative means no limit.
	RecvTimeout time.Duration
	// WriteTimeout bounds each write (a send, a batch, a control frame);
	// zero means none. A mesh forwarder sets it so a stuck peer cannot
	// block it forever.
	WriteTimeout time.Duration
}

// Client is one DERP connection after a completed handshake.
//
// Recv must be called from one goroutine at a time. Every Send-style method
// may be called concurrently with Recv and with each other.
type Client struct {
	conn   net.Conn
	label  string // names the server in errors: the URL, or the remote address
	priv   key.NodePrivate
	pub    key.NodePublic
	server key.NodePublic
	// shared is the box key with sharedFor (the server); see sharedKey.
	shared    key.SharedKey
	sharedFor key.NodePublic
	info      wire.ServerInfo

	recvTimeout  time.Duration
	writeTimeout time.Duration
	br           *bufio.Reader
	rbuf         []byte         // reused frame buffer; see Recv
	pkt          ReceivedPacket // reused for every RecvPacket; see Recv
	readErr      error          // sticky: after one failure the stream is out of step

	wmu     sync.Mutex
	bw      *bufio.Writer
	scratch [wire.ForwardPacketHeadLen]byte // head of the frame being written
	gather  *sockbuf.Conn                   // below conn when it is TLS; see ForwardBatch

	closeOnce sync.Once
	closeErr  error
}

// NewClient performs the DERP handshake over conn, a stream that is already
// past any HTTP upgrade (for example a hijacked connection). br, if not nil,
// must be the reader that holds bytes already read from conn. ctx bounds the
// handshake only. On failure conn is left open for the caller to close.
func NewClient(ctx context.Context, conn net.Conn, br *bufio.Reader, priv key.NodePrivate, opts Options) (*Client, error) {
	return newClient(ctx, conn, br, priv, opts, conn.RemoteAddr().String(), key.NodePublic{})
}

// newClient runs the handshake. A non-zero fastStartKey means ClientInfo
// already went out with the upgrade request, sealed to that key.
func newClient(ctx context.Context, conn net.Conn, br *bufio.Reader, priv key.NodePrivate, opts Options, label string, fastStartKey key.NodePublic) (*Client, error) {
	if br == nil {
		br = bufio.NewReaderSize(conn, readBufferSize)
	}
	c := &Client{
		conn:         conn,
		label:        label,
		priv:         priv,
		pub:          priv.Public(),
		recvTimeout:  opts.RecvTimeout,
		writeTimeout: opts.WriteTimeout,
		br:           br,
		bw:           bufio.NewWriterSize(conn, writeBufferSize),
		gather:       sockbuf.Under(conn),
	}
	if c.recvTimeout == 0 {
		c.recvTimeout = DefaultRecvTimeout
	}
	err := withConnContext(ctx, conn, func() error {
		return c.handshake(clientInfo(opts), fastStartKey)
	})
	if err != nil {
		return nil, c.errorf("handshake: %w", err)
	}
	return c, nil
}

// Buffer sizes: a whole maximum-size packet frame fits in either, so a
// packet is read or written with one system call.
const (
	readBufferSize  = 4 << 10
	writeBufferSize = wire.SendPacketHeadLen + wire.MaxPacketSize
)

// ServerPublicKey is the key the server presented in its ServerKey frame.
func (c *Client) ServerPublicKey() key.NodePublic { return c.server }

// ServerInfo is what the server sealed to this client after admission.
func (c *Client) ServerInfo() wire.ServerInfo { return c.info }

// PublicKey is this client's identity on the server.
func (c *Client) PublicKey() key.NodePublic { return c.pub }

// LocalAddr and RemoteAddr are the underlying connection's addresses.
func (c *Client) LocalAddr() net.Addr  { return c.conn.LocalAddr() }
func (c *Client) RemoteAddr() net.Addr { return c.conn.RemoteAddr() }

// Close closes the connection, which also ends a blocked Recv or Send.
func (c *Client) Close() error {
	c.closeOnce.Do(func() { c.closeErr = c.conn.Close() })
	return c.closeErr
}
