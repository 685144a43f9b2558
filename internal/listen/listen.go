// Package listen opens the relay's TCP listeners with the socket options
// DERP needs and an accept-rate limit that sheds load instead of failing.
package listen

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"

	"golang.org/x/time/rate"

	"github.com/relayctl/relayctl/internal/metrics"
)

// TCPOptions are the socket options for accepted connections.
type TCPOptions struct {
	KeepAlive   time.Duration // TCP keepalive period; 0 = off
	UserTimeout time.Duration // TCP_USER_TIMEOUT (Linux); 0 = off (the kernel's retransmission limits)
}

// TCP listens on addr with opts applied to every accepted connection.
func TCP(ctx context.Context, addr string, opts TCPOptions) (net.Listener, error) {
	keepAlive := opts.KeepAlive
	if keepAlive == 0 {
		keepAlive = -1 // 0 is off, as for every duration setting; net's 0 is its default
	}
	lc := net.ListenConfig{
		KeepAlive: keepAlive,
		Control: func(network, address string, c syscall.RawConn) error {
			return setUserTimeout(c, opts.UserTimeout)
		},
	}
	// Multipath TCP would hide the real path from TCP_INFO and keepalives.
	lc.SetMultipathTCP(false)
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	return ln, nil
}

// RateLimited wraps ln so that connections beyond limit per second (with
// burst) are accepted and closed at once, and accepting goes on. derper
// instead stops serving when its limit is hit.
func RateLimited(ln net.Listener, limit rate.Limit, burst int, reg *metrics.Registry) net.Listener {
	if limit == rate.Inf {
		return ln
	}
	return &limitedListener{
		Listener: ln,
		lim:      rate.NewLimiter(limit, burst),
		accepted: reg.Counter("tls_listener_accepted_connections", "connections accepted under the accept rate limit"),
		rejected: reg.Counter("tls_listener_rejected_connections", "connections closed because they came faster than the accept rate limit"),
	}
}

type limitedListener struct {
	net.Listener
	lim      *rate.Limiter
	accepted *metrics.Counter
	rejected *metrics.Counter
}

func (l *limitedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.lim.Allow() {
			l.accepted.Inc()
			return c, nil
		}
		l.rejected.Inc()
		c.Close()
	}
}

// ErrClosed reports whether err is the error of a closed listener.
func ErrClosed(err error) bool { return errors.Is(err, net.ErrClosed) }
