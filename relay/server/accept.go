package server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/relayctl/relayctl/relay/key"
	"github.com/relayctl/relayctl/relay/wire"
)

// Accept runs the DERP protocol on an upgraded connection until it ends.
// brw may hold bytes already read past the HTTP request (the fast-start
// path sends ClientInfo with the request); nil means read nc directly.
// Accept closes nc before it returns, without waiting on the peer (see
// closeTransport).
func (s *Server) Accept(ctx context.Context, nc net.Conn, brw *bufio.ReadWriter, info ConnInfo) {
	if c := s.accept(ctx, nc, brw, info); c != nil {
		c.run()
	}
}

// accept runs the handshake; on failure it logs, closes nc and returns nil.
func (s *Server) accept(ctx context.Context, nc net.Conn, brw *bufio.ReadWriter, info ConnInfo) *sclient {
	s.metrics.accepts.Inc()
	if info.WebSocket {
		s.metrics.websocketAccepts.Inc()
	}
	br := bufio.NewReader(nc)
	if brw != nil {
		br = brw.Reader
		if brw.Writer.Buffered() > 0 {
			// Nothing is normally pending, but never lose what the
			// transport wrote on our behalf.
			if err := brw.Writer.Flush(); err != nil {
				closeTransport(nc)
				return nil
			}
		}
	}
	c, err := s.handshake(ctx, nc, br, info)
	if err != nil {
		s.logHandshakeFailure(info, err)
		closeTransport(nc)
		return nil
	}
	return c
}

// Start is Accept without waiting: the handshake runs on a goroutine that
// ends with it, and the connection is then served by a fresh goroutine, so
// the stack the key exchange grew is not kept for the connection's whole
// (mostly idle) life. Close and Shutdown still wait for the connection.
func (s *Server) Start(ctx context.Context, nc net.Conn, brw *bufio.ReadWriter, info ConnInfo) {
	go func() {
		c := s.accept(ctx, nc, brw, info)
		if c != nil {
			go c.run()
		}
	}()
}

// handshakeError carries the metric label for a failed handshake.
type handshakeError struct {
	reason string
	err    error
}

func (e *handshakeError) Error() string { return e.err.Error() }
func (e *handshakeError) Unwrap() error { return e.err }

func hsErr(reason string, err error) error { return &handshakeError{reason, err} }

func (s *Server) logHandshakeFailure(info ConnInfo, err error) {
	reason := "eof"
	var he *handshakeError
	if errors.As(err, &he) {
		reason = he.reason
	}
	s.metrics.handshakeFailures.With(reason).Inc()
	s.logger.Info("handshake failed; closing connection", "remote", info.RemoteAddr, "reason", reason, "err", err)
}

func classifyIOError(err error) string {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return "timeout"
	}
	return "eof"
}

// handshake sends ServerKey, reads and opens ClientInfo, admits the client
// and sends ServerInfo. On success the client is registered.
func (s *Server) handshake(ctx context.Context, nc net.Conn, br *bufio.Reader, info ConnInfo) (*sclient, error) {
	bw := bufio.NewWriterSize(nc, 64)
	if err := s.writeServerKey(nc, bw); err != nil {
		return nil, err
	}
	hello, err := s.readClientInfo(nc, br)
	if err != nil {
		return nil, err
	}
	canMesh, err := s.admitClient(ctx, hello.key, hello.info, info)
	if err != nil {
		return nil, err
	}
	nc.SetDeadline(time.Time{})

	c := s.newSclient(nc, hello.key, hello.info, info, canMesh)
	// The handshake read through br (the transport's buffered reader);
	// frames from here on go through c.rd, which keeps less memory.
	c.rd.init(nc, br)

	// Register before ServerInfo goes out, so that a peer told "I am
	// connected" can reach this client at once. Nothing can be written
	// before ServerInfo: only the writer goroutine, started after it,
	// writes queued frames.
	if err := s.register(c); err != nil {
		return nil, hsErr("rejected", err)
	}
	if err := c.writeServerInfo(bw, hello.shared); err != nil {
		c.close()
		s.unregister(c)
		s.connsDone.Done()
		return nil, hsErr("write_error", fmt.Errorf("write ServerInfo: %w", err))
	}
	c.logger.Debug("client connected", "mesh", canMesh, "prober", hello.info.IsProber, "websocket", info.WebSocket)
	return c, nil
}

func (s *Server) writeServerKey(nc net.Conn, bw *bufio.Writer) error {
	nc.SetWriteDeadline(time.Now().Add(s.handshakeTimeout))
	if err := wire.WriteFrame(bw, wire.FrameServerKey, wire.AppendServerKey(nil, s.publicKey)); err != nil {
		return hsErr("write_error", fmt.Errorf("write ServerKey: %w", err))
	}
	if err := bw.Flush(); err != nil {
		return hsErr(classifyIOError(err), fmt.Errorf("write ServerKey: %w", err))
	}
	return nil
}

// clientHello is what the client's ClientInfo frame told the server.
type clientHello struct {
	key    key.NodePublic
	info   wire.ClientInfo
	shared key.SharedKey // the box key, for ServerInfo
}

// readClientInfo reads and opens the client's ClientInfo frame.
func (s *Server) readClientInfo(nc net.Conn, br *bufio.Reader) (clientHello, error) {
	nc.SetReadDeadline(time.Now().Add(s.handshakeTimeout))
	t, n, err := wire.ReadFrameHeader(br)
	if err != nil {
		return clientHello{}, hsErr(classifyIOError(err), fmt.Errorf("read ClientInfo: %w", err))
	}
	if t != wire.FrameClientInfo {
		return clientHello{}, hsErr("not_client_info", fmt.Errorf("first frame is %v, want ClientInfo", t))
	}
	payload, err := wire.ReadClientInfo(br, n)
	if fe := (*wire.FrameError)(nil); errors.As(err, &fe) {
		return clientHello{}, hsErr("bad_length", err)
	}
	if err != nil {
		return clientHello{}, hsErr(classifyIOError(err), fmt.Errorf("read ClientInfo body: %w", err))
	}
	var h clientHello
	h.key, h.info, h.shared, err = wire.OpenClientInfoPrepared(s.preparedKey, payload)
	if err != nil {
		reason := "bad_json"
		if errors.Is(err, key.ErrOpen) {
			reason = "bad_box"
		}
		return h, hsErr(reason, err)
	}
	return h, nil
}

// admitClient decides whether the client may connect, and whether with
// mesh privileges: a mesh key admits it outright, otherwise the access
// policy and then the admission webhook, if any, must.
func (s *Server) admitClient(ctx context.Context, k key.NodePublic, ci wire.ClientInfo, info ConnInfo) (canMesh bool, err error) {
	if s.HasMeshKey() && !ci.MeshKey.IsZero() && ci.MeshKey.Equal(s.meshKey) {
		return true, nil
	}
	if !s.access.Load().admits(k) {
		return false, hsErr("rejected", fmt.Errorf("client %s rejected: not in the relay's access policy (no tag lists its key)%s", k.String(), wrongMeshKeyHint(ci)))
	}
	if s.admit != nil {
		req := AdmitRequest{Key: k, Info: ci}
		if info.RemoteAddr.IsValid() {
			req.Source = info.RemoteAddr.Addr().Unmap()
		}
		if err := s.admit(ctx, req); err != nil {
			return false, hsErr("rejected", fmt.Errorf("client %s rejected: %w%s", k.String(), err, wrongMeshKeyHint(ci)))
		}
	}
	return false, nil
}

// writeServerInfo ends the handshake.
func (c *sclient) writeServerInfo(bw *bufio.Writer, shared key.SharedKey) error {
	sealed, err := wire.SealServerInfoWith(shared, wire.ServerInfo{Version: wire.ProtocolVersion})
	if err != nil {
		return err
	}
	if c.writeTimeout > 0 {
		c.nc.SetWriteDeadline(time.Now().Add(c.writeTimeout))
	}
	if err := wire.WriteFrame(bw, wire.FrameServerInfo, sealed); err != nil {
		return err
	}
	return bw.Flush()
}

// run serves an admitted client until its connection ends.
func (c *sclient) run() {
	s := c.s
	// ServerInfo is out: from now on the writer may run, starting with
	// anything queued for c since it registered (a Health problem in
	// force among them).
	c.queueMu.Lock()
	c.writerReady = true
	if !c.closed {
		c.keepAliveTimer = time.AfterFunc(s.nextKeepAlive(), c.keepAliveFired)
	}
	start := c.hasWorkLocked() && c.claimWriterLocked()
	c.queueMu.Unlock()
	c.kickWriter(start)
	err := c.readLoop()
	c.rd.close()
	c.close()
	c.writers.Wait()
	s.unregister(c)
	s.connsDone.Done()
	c.logClose(err)
}

func (c *sclient) logClose(err error) {
	var pe *wire.FrameError
	switch {
	case errors.As(err, &pe):
		c.s.metrics.closedForProtocol.With(pe.Type.String()).Inc()
		if pe.Msg == noMeshKeyMsg {
			c.logNoMeshKey(pe)
			return
		}
		c.logger.Warn("closing connection: protocol violation", "err", err)
	case err == nil, errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
		c.logger.Debug("client disconnected")
	default:
		c.logger.Debug("client disconnected", "err", err)
	}
}
