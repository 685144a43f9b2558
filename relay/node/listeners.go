package node

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

// listeners are every socket a relay serves on, opened together
// before anything is printed or started: a port in use fails the start
// the same way for each listener, and before the DERP map is shown.
type listeners struct {
	derp    net.Listener       // --addr
	port80  net.Listener       // --http-port of a TLS relay; nil when off
	stun    *stunserver.Server // --stun-port; nil when off
	metrics net.Listener       // --metrics-addr; nil when off
	debug   net.Listener       // --debug-addr; nil when off
}

// openListeners binds every listener of c. On error the ones already
// bound are closed. A bind failure is an operation that failed, not a
// *ConfigError: the setting is well-formed, the host refused it.
func openListeners(ctx context.Context, c *Config, logger *slog.Logger, reg *metrics.Registry) (_ *listeners, err error) {
	ls := &listeners{}
	defer func() {
		if err != nil {
			ls.close()
		}
	}()
	tcpOpts := listen.TCPOptions{KeepAlive: c.TCPKeepAlive, UserTimeout: c.TCPUserTimeout}
	if ls.derp, err = listen.TCP(ctx, c.Addr, tcpOpts); err != nil {
		return nil, listenError(nameAddr, err)
	}
	ls.derp = listen.RetryAccept(ls.derp, listen.DefaultRetryOptions(), logger, reg)
	if c.CertMode != "none" && c.HTTPPort >= 0 {
		if ls.port80, err = listen.TCP(ctx, c.port80Addr(), tcpOpts); err != nil {
			return nil, listenError(nameHTTPPort, err)
		}
	}
	if c.STUN {
		ls.stun = stunserver.New(logger, reg)
		if err = ls.stun.Listen(c.stunAddr()); err != nil {
			ls.stun = nil
			return nil, listenError(nameSTUNPort, err)
		}
	}
	if c.MetricsAddr != "" {
		if ls.metrics, err = net.Listen("tcp", c.MetricsAddr); err != nil {
			return nil, listenError(nameMetricsAddr, err)
		}
	}
	if c.DebugAddr != "" {
		if ls.debug, err = net.Listen("tcp", c.DebugAddr); err != nil {
			return nil, listenError(nameDebugAddr, err)
		}
	}
	return ls, nil
}

// close releases every listener; the STUN socket is closed by serving it
// with a cancelled context.
func (ls *listeners) close() {
	for _, ln := range []net.Listener{ls.derp, ls.port80, ls.metrics, ls.debug} {
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
func (ls *listeners) derpPort() int { return portOf(ls.derp.Addr()) }

func (ls *listeners) stunPort() int {
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
