package mesh

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"syscall"
	"time"

	"github.com/relayctl/relayctl/relay/client"
)

const (
	// dialTimeout bounds one attempt to connect to a peer: TCP, TLS, the
	// upgrade and the DERP handshake.
	dialTimeout = 10 * time.Second
	// HedgeInterval: while an attempt to connect is pending, another one
	// starts every HedgeInterval. On a path that loses packets an attempt
	// can hang until dialTimeout (its handshake lost, or sent into a black
	// hole that has since healed); a fresh one started after the path
	// heals gets through at once. So a healed link is back within
	// HedgeInterval plus a handshake, not dialTimeout. At most
	// dialTimeout/HedgeInterval (10) attempts are in flight.
	HedgeInterval = 1 * time.Second
)

// errDialTimedOut: no attempt to connect finished within dialTimeout.
var errDialTimedOut = errors.New("no connection attempt finished in time")

// dialResult is one connection attempt's outcome.
type dialResult struct {
	c   *client.Client
	err error
}

// dial connects to p as a mesh client. It returns the first attempt that
// succeeds, or the first error once every attempt has failed (wrapping
// errDialTimedOut when they ran out of time); attempts still pending after
// a success are cancelled and their connections closed.
func (m *Mesh) dial(ctx context.Context, p Peer) (*client.Client, error) {
	ctx, cancel := context.WithTimeout(ctx, m.dialTimeout)
	defer cancel()
	opts := client.Options{
		MeshKey:      m.opts.MeshKey,
		TLSConfig:    m.opts.TLSConfig,
		Dialer:       dialerFor(p),
		WriteTimeout: meshWriteTimeout,
	}
	results := make(chan dialResult)
	pending := 0
	attempt := func() {
		pending++
		go func() {
			c, err := client.Dial(ctx, p.URL, m.opts.PrivateKey, opts)
			results <- dialResult{c, err}
		}()
	}
	attempt()
	hedge := time.NewTicker(m.hedgeInterval)
	defer hedge.Stop()
	var firstErr error
	for pending > 0 {
		select {
		case r := <-results:
			pending--
			if r.err == nil {
				go closeLosers(results, pending)
				return r.c, nil
			}
			if firstErr == nil {
				firstErr = r.err
			}
		case <-hedge.C:
			if ctx.Err() == nil {
				attempt()
			}
		}
	}
	if ctx.Err() == context.DeadlineExceeded {
		return nil, fmt.Errorf("%w within %v: %w", errDialTimedOut, m.dialTimeout, firstErr)
	}
	return nil, firstErr
}

// closeLosers collects the n attempts still pending after one won (the
// deferred cancel ends them) and closes any that connected anyway.
func closeLosers(results <-chan dialResult, n int) {
	for range n {
		if r := <-results; r.c != nil {
			r.c.Close()
		}
	}
}

// notSentLowat bounds the bytes a mesh connection's socket holds unsent
// (TCP_NOTSENT_LOWAT). By default the kernel buffers up to megabytes in
// front of a slow link: packets wait there for seconds, uncounted, and a
// ping queued behind them looks like a dead link. With the cap, writes
// block early, the forward queue fills and drops its oldest packets,
// counted. It does not limit the bytes in flight, so a fast link with a
// long round trip still fills its window.
const notSentLowat = 32 << 10

// dialerFor opens mesh connections: with notSentLowat, and to p.DialAddr
// instead of the URL's host when it is set (keeping the URL's port when
// DialAddr has none).
func dialerFor(p Peer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error { return setNotSentLowat(c) }}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		target := p.DialAddr
		if target == "" {
			target = addr
		} else if _, _, err := net.SplitHostPort(target); err != nil {
			_, port, _ := net.SplitHostPort(addr)
			if port == "" {
				port = defaultPort(p.URL)
			}
			target = net.JoinHostPort(target, port)
		}
		return d.DialContext(ctx, network, target)
	}
}

func defaultPort(rawURL string) string {
	if u, err := url.Parse(rawURL); err == nil && u.Scheme == "http" {
		return "80"
	}
	return "443"
}
