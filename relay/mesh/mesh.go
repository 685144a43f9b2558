package mesh

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"sync"
	"syscall"
	"time"

	"github.com/relayctl/relayctl/internal/metrics"
	"github.com/relayctl/relayctl/relay/client"
	"github.com/relayctl/relayctl/relay/key"
	"github.com/relayctl/relayctl/relay/server"
)

// Reconnect backoff: derper waits a flat 5 s, so a cold region forwards
// nothing for 5 s. We retry quickly first, with jitter so a restarted node
// is not hit by every peer at once.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
	// Writes to a peer get the deadline derper gives mesh connections.
	meshWriteTimeout = server.MeshWriteTimeout
	// reconcileGrace waits, after the subscription's pong, for notices a
	// peer may write after it.
	reconcileGrace = 300 * time.Millisecond
)

// Options configure a Mesh.
type Options struct {
	Server     *server.Server
	PrivateKey key.NodePrivate // the server's own key: peers see our mesh client under it
	MeshKey    key.MeshKey
	Peers      []Peer
	// TLSConfig verifies https peers; nil means the system roots (which
	// honour SSL_CERT_FILE and SSL_CERT_DIR) and the URL's host name.
	TLSConfig *tls.Config
	Logger    *slog.Logger
}

// Mesh keeps one watcher connection to every peer of the region.
type Mesh struct {
	opts    Options
	logger  *slog.Logger
	metrics *meshMetrics
	// Keepalive and redial timing: the package constants, shortened by
	// tests.
	pingInterval, pongTimeout, hedgeInterval, dialTimeout time.Duration
}

// New checks opts and returns a Mesh; Run starts it.
func New(opts Options) (*Mesh, error) {
	if opts.Server == nil || opts.PrivateKey.IsZero() {
		return nil, errors.New("mesh: a server and its private key are required")
	}
	if opts.MeshKey.IsZero() {
		return nil, errors.New("mesh: a mesh key is required (--mesh-psk-file)")
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Mesh{opts: opts, logger: logger, metrics: newMeshMetrics(opts.Server.Metrics()),
		pingInterval: PingInterval, pongTimeout: PongTimeout, hedgeInterval: HedgeInterval,
		dialTimeout: dialTimeout}, nil
}

// Run keeps every peer connection up until ctx ends, then waits for them
// to close.
func (m *Mesh) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, p := range m.opts.Peers {
		wg.Go(func() { m.runPeer(ctx, p) })
	}
	wg.Wait()
}

// runPeer connects to p, watches its connections and forwards through it,
// reconnecting with backoff until ctx ends or p turns out to be us.
func (m *Mesh) runPeer(ctx context.Context, p Peer) {
	pm := m.metrics.peer(p.Name)
	logger := m.logger.With("mesh_peer", p.Name)
	backoff := minBackoff
	failures := 0
	keyRejectedLogged := false
	for ctx.Err() == nil {
		// Taken before the attempt, so a peer that comes back while we
		// dial or fail still cuts the wait below short.
		peerBack := m.opts.Server.WatcherArrived()
		err := m.session(ctx, p, pm, func() {
			if failures > 0 {
				logger.Info("mesh peer connected", "after_failures", failures)
			} else {
				logger.Info("mesh peer connected")
			}
			backoff, failures, keyRejectedLogged = minBackoff, 0, false
		})
		if errors.Is(err, errSelf) {
			logger.Info("mesh peer is this node; not meshing with it")
			return
		}
		if ctx.Err() != nil {
			return
		}
		if failures == 0 {
			// The session was up: watchers that arrived meanwhile are
			// old news. Only one arriving from now on says a lost peer
			// is back.
			peerBack = m.opts.Server.WatcherArrived()
		}
		failures++
		pm.reconnects.Inc()
		switch {
		case errors.Is(err, errMeshKeyRejected):
			// Said once until a connection works: retrying does not
			// fix a key, the operator does.
			if !keyRejectedLogged {
				logger.Error("mesh peer rejected our mesh key: check --mesh-psk-file on both nodes", "err", err)
				keyRejectedLogged = true
			} else {
				logger.Debug("mesh peer still rejects our mesh key", "failures", failures)
			}
		case failures == 1:
			logger.Warn("mesh peer unreachable; retrying", "err", err)
		default:
			logger.Debug("mesh peer still unreachable", "err", err, "failures", failures)
		}
		wait := backoff/2 + mrand.N(backoff) // jitter: ½ to 1½ × backoff
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		case <-peerBack:
			// A mesh peer (maybe this one, just restarted) subscribed to
			// us: it is worth trying now rather than after the wait.
		}
		if errors.Is(err, errDialTimedOut) {
			// Every attempt hung: the path loses packets. The wait
			// already happened, and hung attempts cost the peer
			// nothing, so the next ones start at once; a path that
			// heals is used within HedgeInterval.
			backoff = minBackoff
		} else {
			backoff = min(2*backoff, maxBackoff)
		}
	}
}

var errSelf = errors.New("mesh peer is this node")

// errMeshKeyRejected: the peer closed the connection after our watch
// request without a word, which is how relayctl and derper refuse
// mesh-only frames from a client whose mesh key is not theirs.
var errMeshKeyRejected = errors.New("the peer closed the connection on our watch request: it does not accept our mesh key")

// peerClosed reports whether err is the peer ending the connection (as
// opposed to a timeout or our own close).
func peerClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// session runs one connection to p: dial, subscribe, mirror its
// connections into our forwarders until the connection breaks or goes
// silent. Every forwarder it registered is removed on return.
func (m *Mesh) session(ctx context.Context, p Peer, pm *peerMetrics, connected func()) error {
	c, err := m.dial(ctx, p)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	defer cancel()
	defer c.Close()
	if c.ServerPublicKey() == m.opts.Server.PublicKey() {
		return errSelf
	}
	if err := c.WatchConns(); err != nil {
		return err
	}
	// The pong to this ping follows the peer's list of clients (relayctl
	// writes notices before pongs; derper in no fixed order, hence the
	// grace in handle). Then anything the peer forwarded to us from a
	// client it no longer has can be reported gone.
	ps := &peerSession{s: m.opts.Server, c: c, pm: pm, learned: map[key.NodePublic]bool{},
		ka: newKeepalive(c, m.pingInterval, m.pongTimeout)}
	rand.Read(ps.syncToken[:])
	if err := c.SendPing(ps.syncToken); err != nil {
		return err
	}
	ps.fwd = newForwarder(ps.s, c, pm)
	defer ps.close()
	var pinger sync.WaitGroup
	pinger.Go(func() { ps.ka.run(ctx) })
	defer func() { cancel(); c.Close(); pinger.Wait() }()
	// The session counts as up once the peer answers: a peer that does
	// not accept our mesh key says nothing and closes the connection.
	heard := false
	for {
		msg, err := c.Recv()
		if err != nil {
			if kerr := ps.ka.err(); kerr != nil {
				return fmt.Errorf("mesh peer %s: %w", p.Name, kerr)
			}
			if !heard && ctx.Err() == nil && peerClosed(err) {
				return fmt.Errorf("mesh peer %s: %w (%v)", p.Name, errMeshKeyRejected, err)
			}
			return fmt.Errorf("mesh peer %s: %w", p.Name, err)
		}
		if !heard {
			heard = true
			connected()
			pm.connected.Set(1)
		}
		ps.handle(msg)
	}
}

// peerSession is the state of one session: the keys learned from the
// peer, each mapped to the session's forwarder.
type peerSession struct {
	s         *server.Server
	c         *client.Client
	pm        *peerMetrics
	fwd       *server.ForwardQueue
	ka        *keepalive
	learned   map[key.NodePublic]bool
	syncToken [8]byte
	reconcile *time.Timer
}

func (ps *peerSession) handle(msg client.Message) {
	s, pm := ps.s, ps.pm
	switch msg := msg.(type) {
	case client.PeerPresent:
		if msg.Key == s.PublicKey() || ps.learned[msg.Key] {
			return // our own mesh client, seen from the other side
		}
		ps.learned[msg.Key] = true
		pm.presents.Inc()
		s.AddPacketForwarder(msg.Key, ps.fwd)
		pm.peers.Set(int64(len(ps.learned)))
	case client.PeerGone:
		pm.gones.Inc()
		if ps.learned[msg.Key] {
			delete(ps.learned, msg.Key)
			s.RemovePacketForwarder(msg.Key, ps.fwd)
			pm.peers.Set(int64(len(ps.learned)))
		}
	case client.Ping:
		ps.c.SendPong(msg.Data)
	case client.Pong:
		if msg.Data != ps.syncToken {
			ps.ka.pong(msg.Data)
		} else if ps.reconcile == nil {
			peerKey := ps.c.ServerPublicKey()
			ps.reconcile = time.AfterFunc(reconcileGrace, func() { s.ReconcileRemote(peerKey) })
		}
	}
}

// close unregisters everything the session registered.
func (ps *peerSession) close() {
	if ps.reconcile != nil {
		ps.reconcile.Stop()
	}
	ps.fwd.Close()
	for k := range ps.learned {
		ps.s.RemovePacketForwarder(k, ps.fwd)
	}
	ps.pm.peers.Set(0)
	ps.pm.connected.Set(0)
}

// meshMetrics are per-peer series in the server's registry.
type meshMetrics struct {
	connected  *metrics.GaugeVec
	peers      *metrics.GaugeVec
	forwarded  *metrics.CounterVec
	dropped    *metrics.CounterVec
	reconnects *metrics.CounterVec
	updates    *metrics.CounterVec
}

type peerMetrics struct {
	presents, gones                *metrics.Counter
	connected, peers               *metrics.Gauge
	forwarded, dropped, reconnects *metrics.Counter
}

func newMeshMetrics(reg *metrics.Registry) *meshMetrics {
	return &meshMetrics{
		connected:  reg.GaugeVec("relayctl_mesh_peer_connected", "1 while the watcher connection to the mesh peer is up", "peer"),
		peers:      reg.GaugeVec("relayctl_mesh_peer_clients", "clients the mesh peer reports", "peer"),
		forwarded:  reg.CounterVec("relayctl_mesh_packets_forwarded", "packets forwarded to the mesh peer", "peer"),
		dropped:    reg.CounterVec("relayctl_mesh_packets_dropped", "packets for the mesh peer dropped (queue full or connection lost)", "peer"),
		reconnects: reg.CounterVec("relayctl_mesh_reconnects", "times the connection to the mesh peer was lost or could not be made", "peer"),
		updates:    reg.CounterVec("relayctl_mesh_peer_updates", "PeerPresent and PeerGone news received from the mesh peer", "peer", "kind"),
	}
}

func (m *meshMetrics) peer(name string) *peerMetrics {
	return &peerMetrics{
		connected:  m.connected.With(name),
		peers:      m.peers.With(name),
		forwarded:  m.forwarded.With(name),
		dropped:    m.dropped.With(name),
		reconnects: m.reconnects.With(name),
		presents:   m.updates.With(name, "present"),
		gones:      m.updates.With(name, "gone"),
	}
}
