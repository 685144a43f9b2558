package client

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"

	"github.com/relayctl/relayctl/relay/key"
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
	if opts.WebSocket {
		conn, err = dialWebSocket(ctx, u, opts)
	} else {
		conn, br, err = dialUpgrade(ctx, u, opts)
	}
	if err != nil {
		return nil, fmt.Errorf("derp %s: %w", label, err)
	}
	c, err := newClient(ctx, conn, br, priv, opts, label)
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

// hostPort is the address to dial: the URL's host with the scheme's
// default port when none is given.
func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	if u.Scheme == "https" {
		return net.JoinHostPort(u.Hostname(), "443")
	}
	return net.JoinHostPort(u.Hostname(), "80")
}

func tlsConfig(u *url.URL, opts Options) *tls.Config {
	var cfg *tls.Config
	if opts.TLSConfig != nil {
		cfg = opts.TLSConfig.Clone()
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
	addr := hostPort(u)
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
	tc := tls.Client(conn, tlsConfig(u, opts))
	if err := tc.HandshakeContext(ctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("TLS handshake with %s: %w", addr, err)
	}
	return tc, nil
}

// fastStartServerKey decides, from the TLS session, whether the server's
// DERP key is already known (from a "derpkey…" metacert under TLS 1.3), in
// which case the client may send "Derp-Fast-Start: 1" and its ClientInfo
// without waiting for the 101 and ServerKey. Not implemented yet: it
// always says no, so every connection takes the 101 path, which every
// server supports.
//
//nolint:unused // the hook for fast start, see dialUpgrade
func fastStartServerKey(tls.ConnectionState) (key.NodePublic, bool) {
	return key.NodePublic{}, false
}

// dialUpgrade opens the connection and performs the "Upgrade: DERP" HTTP
// exchange. It returns the reader holding any DERP bytes that arrived with
// the 101 response.
func dialUpgrade(ctx context.Context, u *url.URL, opts Options) (net.Conn, *bufio.Reader, error) {
	conn, err := dialTCP(ctx, u, opts)
	if err != nil {
		return nil, nil, err
	}
	// Fast start plugs in here: with a key from fastStartServerKey, the
	// request would carry "Derp-Fast-Start: 1", be flushed together with
	// the ClientInfo frame, and no 101 would be read.
	br := bufio.NewReaderSize(conn, readBufferSize)
	err = withConnContext(ctx, conn, func() error { return upgrade(conn, br, u, opts.Header) })
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	return conn, br, nil
}

// maxErrorBody is how much of a refusal's body goes into the error.
const maxErrorBody = 1 << 10

func upgrade(conn net.Conn, br *bufio.Reader, u *url.URL, extra http.Header) error {
	h := extra.Clone()
	if h == nil {
		h = http.Header{}
	}
	h.Set("Connection", "Upgrade")
	h.Set("Upgrade", "DERP")
	req := &http.Request{
		Method:     http.MethodGet,
		URL:        u,
		Host:       u.Host,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     h,
	}
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
