package cmd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"syscall"

	"github.com/relayctl/relayctl/internal/listen"
	"github.com/relayctl/relayctl/internal/metrics"
	"github.com/relayctl/relayctl/relay/stunserver"
)

// serveListeners are every socket a relay serves on, opened together
// before anything is printed or started: a port in use fails the start
// the same way for each listener, and before the DERP map is shown.
type serveListeners struct {
	derp    net.Listener       // --addr
	port80  net.Listener       // --http-port of a TLS relay; nil when off
	stun    *stunserver.Server // --stun-port; nil when off
	metrics net.Listener       // --metrics-addr; nil when off
}

// openListeners binds every listener of o. On error the ones already
// bound are closed. A bind failure is an operation that failed (exit 1):
// the setting is well-formed, the host refused it.
func (o *serveOptions) openListeners(ctx context.Context, logger *slog.Logger, reg *metrics.Registry) (_ *serveListeners, err error) {
	ls := &serveListeners{}
	defer func() {
		if err != nil {
			ls.close()
		}
	}()
	tcpOpts := listen.TCPOptions{KeepAlive: o.TCPKeepAlive, UserTimeout: o.TCPUserTimeout}
	if ls.derp, err = listen.TCP(ctx, o.Addr, tcpOpts); err != nil {
		return nil, listenError("addr", err)
	}
	ls.derp = listen.RetryAccept(ls.derp, listen.DefaultRetryOptions(), logger, reg)
	if o.CertMode != "none" && o.HTTPPort >= 0 {
		if ls.port80, err = listen.TCP(ctx, o.port80Addr(), tcpOpts); err != nil {
			return nil, listenError("http-port", err)
		}
	}
	if o.STUN {
		ls.stun = stunserver.New(logger, reg)
		if err = ls.stun.Listen(o.stunAddr()); err != nil {
			ls.stun = nil
			return nil, listenError("stun-port", err)
		}
	}
	if o.MetricsAddr != "" {
		if ls.metrics, err = net.Listen("tcp", o.MetricsAddr); err != nil {
			return nil, listenError("metrics-addr", err)
		}
	}
	return ls, nil
}

// close releases every listener; the STUN socket is closed by serving it
// with a cancelled context.
func (ls *serveListeners) close() {
	for _, ln := range []net.Listener{ls.derp, ls.port80, ls.metrics} {
		if ln != nil {
			ln.Close()
		}
	}
	if ls.stun != nil {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		ls.stun.Serve(ctx)
	}
}

// derpPort and stunPort are the bound ports, which differ from the
// settings when those ask for port 0.
func (ls *serveListeners) derpPort() int { return portOf(ls.derp.Addr()) }

func (ls *serveListeners) stunPort() int {
	if ls.stun == nil {
		return -1
	}
	return portOf(ls.stun.LocalAddr())
}

func portOf(a net.Addr) int {
	_, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(port)
	return n
}

// listenError names the setting whose listener failed and says what to
// do about the common causes.
func listenError(setting string, err error) error {
	var hint string
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		hint = fmt.Sprintf("another process (another relay, a web server) holds the port: find it with ss -lntup, or choose another with --%s", setting)
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		hint = fmt.Sprintf("the address is not one of this host's: give one of its own addresses, or only :PORT for all of them, in --%s", setting)
	case errors.Is(err, syscall.EACCES):
		hint = "ports below 1024 need root or CAP_NET_BIND_SERVICE (the systemd unit in deploy/ grants it)"
	default:
		return fmt.Errorf("--%s: %w", setting, err)
	}
	return fmt.Errorf("--%s: %w (%s)", setting, err, hint)
}
