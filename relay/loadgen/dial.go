package loadgen

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"time"

	"github.com/relayctl/relayctl/relay/client"
	"github.com/relayctl/relayctl/relay/key"
)

// dialer opens DERP connections to one target. It does the HTTP upgrade
// itself, rather than through client.Dial, so that it chooses the read
// buffer handed to client.NewClient: large for receivers (one system call
// per many packets), small for the thousands of idle clients. It also keeps
// the raw connection, on which senders write pre-built frames.
type dialer struct {
	addr string // host:port to dial
	tls  *tls.Config
	url  *url.URL // the server, for the upgrade request
}

// conn is one DERP connection after the handshake.
type conn struct {
	*client.Client
	raw net.Conn // the stream below the DERP framing (TLS when https)
	tcp *net.TCPConn
	br  *bufio.Reader // Client reads through it; Buffered tells when a read is due
}

func newDialer(t Target) (*dialer, error) {
	u, err := t.parse()
	if err != nil {
		return nil, err
	}
	d := &dialer{addr: client.HostPort(u), url: u}
	if u.Scheme == "https" {
		d.tls = client.TLSConfig(u, t.TLSConfig)
	}
	return d, nil
}

// Read buffer sizes: receivers take up to this much per system call; idle
// and handshake-only clients need just enough for the 101 response.
const (
	bulkReadBuffer  = 256 << 10
	smallReadBuffer = 1 << 10
)

// dial connects, upgrades and completes the DERP handshake as priv, all
// within ctx. The connection then has no read deadline: Recv ends when the
// connection is closed.
func (d *dialer) dial(ctx context.Context, priv key.NodePrivate, readBuffer int) (*conn, error) {
	var nd net.Dialer
	nc, err := nd.DialContext(ctx, "tcp", d.addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", d.addr, err)
	}
	c := &conn{raw: nc}
	c.tcp, _ = nc.(*net.TCPConn)
	if err := d.upgrade(ctx, c, priv, readBuffer); err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

func (d *dialer) upgrade(ctx context.Context, c *conn, priv key.NodePrivate, readBuffer int) error {
	if deadline, ok := ctx.Deadline(); ok {
		c.raw.SetDeadline(deadline)
	}
	if d.tls != nil {
		tc := tls.Client(c.raw, d.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			return fmt.Errorf("TLS handshake with %s: %w", d.addr, err)
		}
		c.raw = tc
	}
	c.br = bufio.NewReaderSize(c.raw, readBuffer)
	if err := client.Upgrade(c.raw, c.br, d.url, nil); err != nil {
		return fmt.Errorf("upgrade at %s: %w", d.addr, err)
	}
	dc, err := client.NewClient(ctx, c.raw, c.br, priv, client.Options{RecvTimeout: -1})
	if err != nil {
		return err
	}
	c.raw.SetDeadline(time.Time{})
	c.Client = dc
	return nil
}

// abort closes the connection with a reset instead of a FIN, so that tens
// of thousands of short connections leave no TIME_WAIT sockets behind to
// exhaust loopback's ephemeral ports.
func (c *conn) abort() {
	if c.tcp != nil {
		c.tcp.SetLinger(0)
	}
	c.Close()
}
