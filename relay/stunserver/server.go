// Package stunserver is relayctl's STUN server: it answers binding requests
// on UDP with the address they came from, as derper does (spec §5).
//
// Tailscale's requests (SOFTWARE "tailnode", FINGERPRINT last) get derper's
// exact reply: a Binding Success with only XOR-MAPPED-ADDRESS. Plain RFC
// 5389 binding requests, which derper ignores, are answered too. Everything
// else is dropped and counted as not_stun. The message format, both the
// server's side and the client's, is internal/stunwire.
package stunserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/relayctl/relayctl/internal/metrics"
	"github.com/relayctl/relayctl/internal/stunwire"
)

// readErrorBackoff spaces out reads after an unexpected read error, so a
// persistent fault costs neither a spinning core nor a log flood.
const readErrorBackoff = time.Second

// Server answers STUN binding requests on one UDP socket.
type Server struct {
	logger  *slog.Logger
	metrics *serverMetrics

	conn *net.UDPConn
	// control is enabled on wildcard sockets, where replies must leave
	// from the address each request arrived on.
	control localAddrControl
}

// New returns a server that logs to logger and counts into reg; either may
// be nil.
func New(logger *slog.Logger, reg *metrics.Registry) *Server {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Server{logger: logger, metrics: newServerMetrics(reg)}
}

// Listen binds the UDP socket: "ip:port", or ":port" for a dual-stack
// socket on every address.
func (s *Server) Listen(addr string) error { return s.listen("udp", addr) }

// listen takes the network so tests can force an IPv4-only socket.
func (s *Server) listen(network, addr string) error {
	if s.conn != nil {
		return fmt.Errorf("stun listen %s: already listening on %s", addr, s.conn.LocalAddr())
	}
	ua, err := net.ResolveUDPAddr(network, addr)
	if err != nil {
		return fmt.Errorf("stun listen %s: %w", addr, err)
	}
	conn, err := net.ListenUDP(network, ua)
	if err != nil {
		return fmt.Errorf("stun listen %s: %w", addr, err)
	}
	if ua.IP == nil || ua.IP.IsUnspecified() {
		control, err := enableLocalAddrControl(conn)
		if err != nil {
			s.logger.Warn("STUN replies will leave from the routed source address, which may differ from the one a multi-homed host was asked on",
				"addr", conn.LocalAddr().String(), "err", err)
		}
		s.control = control
	}
	s.conn = conn
	s.logger.Info("STUN server listening", "addr", conn.LocalAddr().String())
	return nil
}

// LocalAddr returns the bound address, or nil before Listen.
func (s *Server) LocalAddr() net.Addr {
	if s.conn == nil {
		return nil
	}
	return s.conn.LocalAddr()
}

// Serve answers requests until ctx is cancelled, then closes the socket and
// returns nil. Listen must have succeeded first; Serve runs once.
func (s *Server) Serve(ctx context.Context) error {
	conn := s.conn
	if conn == nil {
		return errors.New("stun: Serve called before Listen")
	}
	closed := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		conn.Close()
		close(closed)
	})
	defer func() {
		if stop() {
			conn.Close()
		} else {
			<-closed // the closer has run or is running; let it finish
		}
	}()

	loop := newPacketLoop(s)
	for {
		err := loop.serveOne(conn)
		switch {
		case err == nil:
			continue
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, net.ErrClosed):
			return fmt.Errorf("stun %s: socket closed while serving: %w", conn.LocalAddr(), err)
		}
		s.metrics.readError.Inc()
		s.logger.Warn("STUN read failed", "addr", conn.LocalAddr().String(), "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(readErrorBackoff):
		}
	}
}

// packetLoop owns the buffers reused for every datagram, so the steady
// state does not allocate.
type packetLoop struct {
	s       *Server
	packet  []byte
	recvOOB []byte
	sendOOB []byte
	reply   []byte
}

func newPacketLoop(s *Server) *packetLoop {
	l := &packetLoop{s: s, packet: make([]byte, 64<<10), reply: make([]byte, 0, stunwire.MaxReplyLen)}
	if s.control.enabled() {
		l.recvOOB = make([]byte, controlBufLen)
		l.sendOOB = make([]byte, 0, controlBufLen)
	}
	return l
}

// serveOne reads one datagram and answers it if it deserves an answer. It
// returns only read errors; what happens to the datagram is counted.
func (l *packetLoop) serveOne(conn *net.UDPConn) error {
	n, oobn, _, client, err := conn.ReadMsgUDPAddrPort(l.packet, l.recvOOB)
	if err != nil {
		return err
	}
	m := l.s.metrics
	reply, ok := stunwire.AppendReply(l.reply[:0], l.packet[:n], client)
	if !ok {
		m.notSTUN.Inc()
		return nil
	}
	if client.Addr().Unmap().Is4() {
		m.ipv4.Inc()
	} else {
		m.ipv6.Inc()
	}
	oob := l.sendOOB[:0]
	if l.s.control.enabled() {
		if local, ifindex, ok := l.s.control.arrivalAddr(l.recvOOB[:oobn]); ok && usableSource(local) {
			oob = l.s.control.appendSourceControl(oob, local, ifindex)
		} else {
			m.noLocalAddr.Inc()
		}
	}
	// client keeps its IPv4-mapped form, which a dual-stack socket needs.
	if _, _, err := conn.WriteMsgUDPAddrPort(reply, oob, client); err != nil {
		m.writeError.Inc()
	} else {
		m.success.Inc()
	}
	return nil
}

// usableSource excludes arrival addresses a reply cannot be sent from.
func usableSource(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsValid() && !a.IsUnspecified() && !a.IsMulticast() && a != netip.AddrFrom4([4]byte{255, 255, 255, 255})
}
