// Package server is the DERP relay itself: it takes connections that have
// already been upgraded (by relay/web, or any transport a library user
// brings), runs the handshake, and relays packets between clients with
// derper's semantics: per-client bounded queues, duplicate-key policy,
// PeerGone notices, mesh privileges.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/relayctl/relayctl/internal/metrics"
	"github.com/relayctl/relayctl/relay/key"
	"github.com/relayctl/relayctl/relay/wire"
)

// Defaults match derper's.
const (
	DefaultWriteTimeout     = 2 * time.Second
	MeshWriteTimeout        = 30 * time.Second
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultKeepAlive        = 60 * time.Second
	DefaultQueueDepth       = 32
)

// Options configure a Server. The zero value of each field means its
// default, except WriteTimeout, a duration that can be off: 0 is no
// deadline, as 0 is "off" for every such setting (DefaultWriteTimeout is
// what serve's --tcp-write-timeout starts at).
type Options struct {
	PrivateKey key.NodePrivate // required
	MeshKey    key.MeshKey     // zero: no mesh privileges for anyone
	Logger     *slog.Logger
	Metrics    *metrics.Registry

	// WriteTimeout bounds each write to a regular client (mesh peers get
	// MeshWriteTimeout). 0 = none.
	WriteTimeout time.Duration
	// HandshakeTimeout and KeepAlive cannot be off: 0 picks
	// DefaultHandshakeTimeout and DefaultKeepAlive.
	HandshakeTimeout time.Duration
	KeepAlive        time.Duration
	// QueueDepth is the per-client depth of each of the data and disco
	// queues; 0 picks DefaultQueueDepth.
	QueueDepth int
	// PerClientRateLimit and PerClientRateBurst limit what each regular
	// client may send (bytes/s; 0 = unlimited); see SetPerClientRateLimit.
	PerClientRateLimit int64
	PerClientRateBurst int
	// Admit, when set, decides whether a client that completed the
	// handshake may connect. Mesh-key clients are never asked. A non-nil
	// error rejects the client; the connection closes with no frame.
	Admit func(ctx context.Context, req AdmitRequest) error
}

// AdmitRequest describes a client asking to connect.
type AdmitRequest struct {
	Key    key.NodePublic
	Source netip.Addr // the client's IP; invalid when unknown
	Info   wire.ClientInfo
}

// ConnInfo is what the transport knows about a connection.
type ConnInfo struct {
	RemoteAddr netip.AddrPort
	// NotIdeal is set when the client sent an Ideal-Node header: it landed
	// on this node although the region prefers another.
	NotIdeal  bool
	WebSocket bool
}

// Server relays packets between connected clients.
type Server struct {
	privateKey       key.NodePrivate
	preparedKey      *key.PreparedKey // for the per-client key exchange
	publicKey        key.NodePublic
	meshKey          key.MeshKey
	logger           *slog.Logger
	metrics          *serverMetrics
	registry         *metrics.Registry
	rateMetrics      *rateMetrics
	rateCfg          atomic.Pointer[rateConfig]
	access           atomic.Pointer[accessPolicy]
	writeTimeout     time.Duration
	handshakeTimeout time.Duration
	keepAlive        time.Duration
	queueDepth       int
	admit            func(context.Context, AdmitRequest) error

	connNum atomic.Uint64

	// clients maps key.NodePublic → *clientSet. Reads on the packet path
	// are lock-free; every change happens under mu.
	clients sync.Map
	// forwarders maps key.NodePublic → forwarderList for keys held by
	// other nodes of the region. Same locking as clients.
	forwarders  sync.Map
	remoteSends remoteSendLog

	mu        sync.Mutex
	conns     map[*sclient]struct{} // every registered connection
	watchers  map[*sclient]struct{}
	closed    bool
	connsDone sync.WaitGroup
	// health is the Health problem in force, queued to every client that
	// registers. Only tests set it (SetHealth in export_test.go) until a
	// caller has a problem to report.
	health string

	noMeshKeyLog sparseLog

	// watcherArrived (guarded by mu) is closed when a watcher
	// subscribes; see WatcherArrived.
	watcherArrived chan struct{}
}

// clientSet is every connection of one key. Packets go to active only.
type clientSet struct {
	active atomic.Pointer[sclient]
	// Guarded by Server.mu:
	conns []*sclient // in registration order
	// sendHistory holds connections in the order they last became active,
	// each at most once, live ones only: when the active one leaves, the
	// most recent other sender takes over. Bounded by len(conns).
	sendHistory []*sclient
	// departedSentTo collects the sentTo of connections of this key that
	// have closed, so that every receiver of the key's packets hears
	// PeerGone when its last connection closes.
	departedSentTo map[key.NodePublic]uint64
}

// New returns a Server ready to Accept connections.
func New(opts Options) (*Server, error) {
	if opts.PrivateKey.IsZero() {
		return nil, errors.New("relay server: a private key is required")
	}
	if opts.WriteTimeout < 0 {
		return nil, fmt.Errorf("relay server: write timeout %v: want 0 (none) or a positive duration", opts.WriteTimeout)
	}
	prepared, err := opts.PrivateKey.Prepare()
	if err != nil {
		return nil, fmt.Errorf("relay server: %w", err)
	}
	s := &Server{
		preparedKey:      prepared,
		privateKey:       opts.PrivateKey,
		publicKey:        opts.PrivateKey.Public(),
		meshKey:          opts.MeshKey,
		logger:           opts.Logger,
		writeTimeout:     opts.WriteTimeout,
		handshakeTimeout: opts.HandshakeTimeout,
		keepAlive:        opts.KeepAlive,
		queueDepth:       opts.QueueDepth,
		admit:            opts.Admit,
		conns:            map[*sclient]struct{}{},
		watchers:         map[*sclient]struct{}{},
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	reg := opts.Metrics
	if reg == nil {
		reg = metrics.NewRegistry()
	}
	s.registry = reg
	s.metrics = newServerMetrics(reg)
	reg.GaugeFunc("relayctl_send_queue_packets", "packets waiting in all clients' send queues", s.queuedPackets)
	s.rateMetrics = newRateMetrics(reg)
	s.SetPerClientRateLimit(opts.PerClientRateLimit, opts.PerClientRateBurst)
	if s.handshakeTimeout <= 0 {
		s.handshakeTimeout = DefaultHandshakeTimeout
	}
	if s.keepAlive <= 0 {
		s.keepAlive = DefaultKeepAlive
	}
	if s.queueDepth <= 0 {
		s.queueDepth = DefaultQueueDepth
	}
	return s, nil
}

// PublicKey is the server's DERP identity.
func (s *Server) PublicKey() key.NodePublic { return s.publicKey }

// HasMeshKey reports whether mesh privileges can be granted.
func (s *Server) HasMeshKey() bool { return !s.meshKey.IsZero() }

// Metrics is the registry the server counts in, for transports and
// companions (mesh, web) to add their own series.
func (s *Server) Metrics() *metrics.Registry { return s.registry }

// nextKeepAlive is the keepalive interval plus up to a twelfth of it in
// jitter (derper's 60 s + up to 5 s), so clients' keepalives spread out.
func (s *Server) nextKeepAlive() time.Duration {
	return s.keepAlive + rand.N(s.keepAlive/12+1)
}

// lookup returns the active connection for k, and whether k has any
// connection at all.
func (s *Server) lookup(k key.NodePublic) (active *sclient, known bool) {
	v, ok := s.clients.Load(k)
	if !ok {
		return nil, false
	}
	return v.(*clientSet).active.Load(), true
}

// register adds c to the registry. It fails if the server is closing, or
// if the access policy no longer admits c: the policy may have changed
// while c waited on the admission webhook, after SetAccessPolicy's sweep
// of registered connections (which runs under mu, as this check does).
func (s *Server) register(c *sclient) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("server is shutting down")
	}
	if !c.canMesh && !s.access.Load().admits(c.key) {
		return fmt.Errorf("client %s rejected: the access policy changed during admission and no tag lists its key", c.key.ShortString())
	}
	// A Health problem in force is queued now, under the lock SetHealth
	// holds: a SetHealth after this point queues its own frame, so none
	// is lost or overtaken. The writer sends it right after ServerInfo.
	if s.health != "" {
		problem := s.health
		c.queueMu.Lock()
		c.health = &problem
		c.queueMu.Unlock()
	}
	s.conns[c] = struct{}{}
	c.registered = true
	s.connsDone.Add(1)
	var set *clientSet
	if v, ok := s.clients.Load(c.key); ok {
		set = v.(*clientSet)
	} else {
		set = &clientSet{}
		s.clients.Store(c.key, set)
		s.metrics.clientsLocal.Add(1)
	}
	set.conns = append(set.conns, c)
	set.active.Store(c) // the newest connection wins until another sends
	switch n := len(set.conns); {
	case n == 2:
		s.metrics.dupClientKeys.Add(1)
		s.metrics.dupClientConns.Add(2)
		s.metrics.totalDupConns.Inc()
		for _, o := range set.conns {
			o.isDup.Store(true)
		}
		s.logger.Info("duplicate connection for key; newest is active", "key", c.key.ShortString(), "remote", c.remote)
	case n > 2:
		s.metrics.dupClientConns.Add(1)
		s.metrics.totalDupConns.Inc()
		c.isDup.Store(true)
		set.sendHistory = moveToEnd(set.sendHistory, c)
	}
	s.metrics.currentConns.Add(1)
	if c.notIdeal {
		s.metrics.notIdealConns.Add(1)
	}
	s.broadcastPresentLocked(c)
	return nil
}

// noteSender makes a duplicate connection that just sent a frame the
// active one (derper's "last writer is active" policy).
func (s *Server) noteSender(c *sclient) {
	v, ok := s.clients.Load(c.key)
	if !ok {
		return
	}
	set := v.(*clientSet)
	if set.active.Load() == c {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !c.registered {
		return
	}
	set.active.Store(c)
	set.sendHistory = moveToEnd(set.sendHistory, c)
}

// unregister removes c. When it was its key's last connection, everyone
// who received from the key, and every watcher, hears PeerGone.
func (s *Server) unregister(c *sclient) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !c.registered {
		return
	}
	c.registered = false
	delete(s.conns, c)
	s.remoteSends.forget(c)
	if _, ok := s.watchers[c]; ok {
		delete(s.watchers, c)
		s.metrics.watchers.Add(-1)
	}
	s.metrics.currentConns.Add(-1)
	if c.notIdeal {
		s.metrics.notIdealConns.Add(-1)
	}
	if c.preferred {
		s.metrics.homeConns.Add(-1)
	}
	v, _ := s.clients.Load(c.key)
	set := v.(*clientSet)
	set.conns = deleteConn(set.conns, c)
	set.sendHistory = deleteConn(set.sendHistory, c)
	switch len(set.conns) {
	case 0:
		s.clients.Delete(c.key)
		s.metrics.clientsLocal.Add(-1)
		// A key that another node of the region still has has not left:
		// its receivers keep talking to it through the mesh.
		if !s.hasForwarder(c.key) {
			mergeSentTo(set, c)
			for dst, since := range set.departedSentTo {
				s.peerGoneToReceiversLocked(c.key, dst, since)
			}
		}
		for w := range s.watchers {
			w.queuePeerGone(c.key, wire.PeerGoneDisconnected)
		}
	case 1:
		s.metrics.dupClientKeys.Add(-1)
		s.metrics.dupClientConns.Add(-2)
		only := set.conns[0]
		only.isDup.Store(false)
		set.active.Store(only)
		set.sendHistory = nil
		mergeSentTo(set, c)
	default:
		s.metrics.dupClientConns.Add(-1)
		if set.active.Load() == c {
			var next *sclient
			if n := len(set.sendHistory); n > 0 {
				next = set.sendHistory[n-1]
			}
			set.active.Store(next) // nil: drop as dup_client until one sends
		}
		mergeSentTo(set, c)
	}
}

// mergeSentTo remembers c's receivers on its key's set, for when the
// key's last connection goes: it adds c.sentTo to set.departedSentTo,
// keeping for each receiver key the lowest connection number.
func mergeSentTo(set *clientSet, c *sclient) {
	if len(c.sentTo) == 0 {
		return
	}
	if set.departedSentTo == nil {
		set.departedSentTo = make(map[key.NodePublic]uint64, len(c.sentTo))
	}
	for k, n := range c.sentTo {
		if prev, ok := set.departedSentTo[k]; !ok || n < prev {
			set.departedSentTo[k] = n
		}
	}
	c.sentTo = nil
}

// peerGoneToReceiversLocked tells the connections of dst that may have
// received packets from gone (those numbered since or later: connection
// numbers only grow) that gone has left. A PeerGone for a peer a client
// never heard from costs it nothing.
func (s *Server) peerGoneToReceiversLocked(gone, dst key.NodePublic, since uint64) {
	v, ok := s.clients.Load(dst)
	if !ok {
		return
	}
	for _, rc := range v.(*clientSet).conns {
		if rc.connNum >= since {
			rc.queuePeerGone(gone, wire.PeerGoneDisconnected)
		}
	}
}

// deleteConn removes c from list, which holds each connection at most once.
func deleteConn(list []*sclient, c *sclient) []*sclient {
	for i, o := range list {
		if o == c {
			n := copy(list[i:], list[i+1:])
			list[i+n] = nil // no stale pointer past the end
			return list[:i+n]
		}
	}
	return list
}

// moveToEnd makes c the last entry of list, keeping it there once.
func moveToEnd(list []*sclient, c *sclient) []*sclient {
	return append(deleteConn(list, c), c)
}

// queuedPackets counts the packets in every client's send queues when
// metrics are scraped: the packet path keeps no server-wide count, which
// every sender and writer would update on every packet.
func (s *Server) queuedPackets() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for c := range s.conns {
		c.queueMu.Lock()
		n += c.dataQ.len() + c.discoQ.len()
		c.queueMu.Unlock()
	}
	return float64(n)
}

// ConnCount is the number of registered connections.
func (s *Server) ConnCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Close disconnects every client at once and waits for their goroutines.
func (s *Server) Close() error {
	return s.stop(context.Background(), nil)
}

// Shutdown tells every client the server is restarting (a Restarting frame
// asking them to reconnect after reconnectIn and keep trying for tryFor),
// gives the writers until ctx is done to deliver it and what they have
// queued, then closes everything.
func (s *Server) Shutdown(ctx context.Context, reconnectIn, tryFor time.Duration) error {
	return s.stop(ctx, &wire.Restarting{
		ReconnectInMillis: uint32(reconnectIn / time.Millisecond),
		TryForMillis:      uint32(tryFor / time.Millisecond),
	})
}

// stop turns new connections away and closes every registered one, after
// (when restarting is set) queueing the Restarting frame and waiting until
// ctx is done for each writer to report its queues empty.
func (s *Server) stop(ctx context.Context, restarting *wire.Restarting) error {
	s.mu.Lock()
	s.closed = true
	conns := make([]*sclient, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	if restarting != nil {
		for _, c := range conns {
			c.queueRestarting(*restarting)
		}
		for _, c := range conns {
			select {
			case <-c.drained:
			case <-c.done:
			case <-ctx.Done():
			}
		}
	}
	for _, c := range conns {
		c.close()
	}
	s.connsDone.Wait()
	return nil
}
