package client

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/relayctl/relayctl/internal/certs"
	"github.com/relayctl/relayctl/internal/sockbuf"
	"github.com/relayctl/relayctl/relay/key"
	"github.com/relayctl/relayctl/relay/wire"
)

// Dial connects to the DERP server at serverURL and completes the
// handshake. serverURL is http://host[:port][/path] or https://…; the path
// defaults to /derp. ws:// and wss:// select the WebSocket transport, as
// does opts.WebSocket. ctx bounds the whole dial and handshake, not the
// connection's life.
func Dial(ctx context.Context, serverURL string, priv key.NodePrivate, opts Options) (*Client, error) {
	u, err := parseServerURL(serverURL, &opts)
	if err != nil {
		return nil, err
	}
	label := u.String()
	var conn net.Conn
	var br *bufio.Reader
	var fastStartKey key.NodePublic
	if opts.WebSocket {
		conn, err = dialWebSocket(ctx, u, opts)
	} else {
		conn, br, fastStartKey, err = dialUpgrade(ctx, u, priv, opts)
	}
	if err != nil {
		return nil, fmt.Errorf("derp %s: %w", label, err)
	}
	c, err := newClient(ctx, conn, br, priv, opts, label, fastStartKey)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return c, nil
}

// parseServerURL checks the scheme, fills in the default path, and turns
// ws/wss into the WebSocket option so the rest sees only http/https.
func parseServerURL(s string, opts *Options) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("derp server URL %q: %w", s, err)
	}
	switch u.Scheme {
	case "http", "https":
	case "ws":
		u.Scheme, opts.WebSocket = "http", true
	case "wss":
		u.Scheme, opts.WebSocket = "https", true
	default:
		return nil, fmt.Errorf("derp server URL %q: scheme must be http, https, ws or wss", s)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("derp server URL %q: no host", s)
	}
	if u.Path == "" {
		u.Path = "/derp"
	}
	return u, nil
}

// HostPort is the address to dial for a DERP server URL: the URL's host
// with the scheme's default port when none is given.
func HostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	if u.Scheme == "https" {
		return net.JoinHostPort(u.Hostname(), "443")
	}
	return net.JoinHostPort(u.Hostname(), "80")
}

// TLSConfig is a copy of base (nil: the defaults) for the server at u,
// its ServerName the URL's host unless base sets one.
func TLSConfig(u *url.URL, base *tls.Config) *tls.Config {
	var cfg *tls.Config
	if base != nil {
		cfg = base.Clone()
	} else {
		cfg = &tls.Config{}
	}
	if cfg.ServerName == "" {
		cfg.ServerName = u.Hostname()
	}
	return cfg
}

// dialTCP opens the TCP connection and, for https, the TLS session.
func dialTCP(ctx context.Context, u *url.URL, opts Options) (net.Conn, error) {
	dial := opts.Dialer
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	addr := HostPort(u)
	conn, err := dial(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	// Packets are small and latency matters more than segment count.
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	if u.Scheme != "https" {
		return conn, nil
	}
	// Under TLS, so a busy stream (a mesh link) comes in with few reads.
	tc := tls.Client(sockbuf.New(conn), TLSConfig(u, opts.TLSConfig))
	if err := tc.HandshakeContext(ctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("TLS handshake with %s: %w", addr, err)
	}
	return tc, nil
}

// fastStartServerKey finds the server's DERP key in a "derpkey" metacert,
// as Tailscale's client does: only under TLS 1.3 (whose certificates travel
// encrypted, so no middlebox has rewritten the chain), in a certificate
// whose Subject CN is "derpkey" followed by 64 hex digits and whose serial
// number, the DERP protocol version, is between 1 and 255. With that key
// the client can send ClientInfo without waiting for the 101 and ServerKey.
func fastStartServerKey(cs tls.ConnectionState) (key.NodePublic, bool) {
	if cs.Version < tls.VersionTLS13 {
		return key.NodePublic{}, false
	}
	for _, c := range cs.PeerCertificates {
		hexKey, ok := strings.CutPrefix(c.Subject.CommonName, certs.MetaCertPrefix)
		if !ok || len(hexKey) != 2*key.Len {
			continue
		}
		raw, err := hex.DecodeString(hexKey)
		if err != nil {
			continue
		}
		if c.SerialNumber == nil || c.SerialNumber.Sign() <= 0 || c.SerialNumber.BitLen() > 8 {
			continue
		}
		return key.NodePublicFromRaw32(raw), true
	}
	return key.NodePublic{}, false
}

// dialUpgrade opens the connection and performs the "Upgrade: DERP" HTTP
// exchange. It returns the reader holding any DERP bytes that arrived with
// the 101 response. When the TLS session offers fast start, the request
// carries "Derp-Fast-Start: 1" and goes out in one write with the
// ClientInfo frame sealed to the metacert's key; the server then writes no
// HTTP response, and fastStartKey tells the handshake not to send
// ClientInfo again.
func dialUpgrade(ctx context.Context, u *url.URL, priv key.NodePrivate, opts Options) (conn net.Conn, br *bufio.Reader, fastStartKey key.NodePublic, err error) {
	conn, err = dialTCP(ctx, u, opts)
	if err != nil {
		return nil, nil, key.NodePublic{}, err
	}
	if tc, ok := conn.(*tls.Conn); ok {
		fastStartKey, _ = fastStartServerKey(tc.ConnectionState())
	}
	br = bufio.NewReaderSize(conn, readBufferSize)
	err = withConnContext(ctx, conn, func() error {
		if !fastStartKey.IsZero() {
			return fastStartUpgrade(conn, u, opts, priv, fastStartKey)
		}
		return Upgrade(conn, br, u, opts.Header)
	})
	if err != nil {
		conn.Close()
		return nil, nil, key.NodePublic{}, err
	}
	return conn, br, fastStartKey, nil
}

// fastStartUpgrade writes the upgrade request and the ClientInfo frame in
// a single write and reads nothing: the next bytes from the server are the
// DERP stream.
func fastStartUpgrade(conn net.Conn, u *url.URL, opts Options, priv key.NodePrivate, serverKey key.NodePublic) error {
	req := upgradeRequest(u, opts.Header)
	req.Header.Set("Derp-Fast-Start", "1")
	var buf bytes.Buffer
	if err := req.Write(&buf); err != nil {
		return fmt.Errorf("write upgrade request: %w", err)
	}
	info, err := wire.SealClientInfo(priv, serverKey, clientInfo(opts))
	if err != nil {
		return err
	}
	msg := wire.AppendFrameHeader(buf.Bytes(), wire.FrameClientInfo, uint32(len(info)))
	msg = append(msg, info...)
	if _, err := conn.Write(msg); err != nil {
		return fmt.Errorf("write upgrade request and ClientInfo: %w", err)
	}
	return nil
}

// maxErrorBody is how much of a refusal's body goes into the error.
const maxErrorBody = 1 << 10

func upgradeRequest(u *url.URL, extra http.Header) *http.Request {
	h := extra.Clone()
	if h == nil {
		h = http.Header{}
	}
	h.Set("Connection", "Upgrade")
	h.Set("Upgrade", "DERP")
	h.Del("Derp-Fast-Start") // only fastStartUpgrade may promise to read no response
	return &http.Request{
		Method:     http.MethodGet,
		URL:        u,
		Host:       u.Host,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     h,
	}
}

// Upgrade performs the "Upgrade: DERP" HTTP exchange on conn for the
// server at u (with extra headers, if any): it writes the request and
// reads the 101 response through br, which then holds any DERP bytes
// that came with it, ready for NewClient. Dial does this itself; it is
// for callers that open connections their own way (a load generator
// choosing its read buffers).
func Upgrade(conn net.Conn, br *bufio.Reader, u *url.URL, extra http.Header) error {
	req := upgradeRequest(u, extra)
	// Request.Write buffers internally and writes once.
	if err := req.Write(conn); err != nil {
		return fmt.Errorf("write upgrade request: %w", err)
	}
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		return fmt.Errorf("read upgrade response: %w", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		resp.Body.Close()
		return fmt.Errorf("GET failed: status %s: %q", resp.Status, body)
	}
	return nil
}
