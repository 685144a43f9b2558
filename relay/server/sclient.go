package server

import (
	"crypto/tls"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/relayctl/relayctl/internal/packetbuf"
	"github.com/relayctl/relayctl/relay/key"
	"github.com/relayctl/relayctl/relay/wire"
)

// sclient is the server's side of one client connection.
type sclient struct {
	s         *Server
	nc        net.Conn
	rd        frameReader // the reader goroutine's
	key       key.NodePublic
	info      wire.ClientInfo
	connNum   uint64
	remote    netip.AddrPort
	canMesh   bool
	notIdeal  bool
	logger    *slog.Logger
	connected time.Time

	isDup atomic.Bool

	// Owned by the reader goroutine.
	// sentTo records, for PeerGone, the keys we sent packets to and the
	// lowest connection number of theirs that got one. Numbers, not
	// pointers: a closed receiver must not stay reachable from here.
	sentTo         map[key.NodePublic]uint64
	notHereLimiter *rate.Limiter
	limiter        *rate.Limiter // receive rate limit, when one is set
	limiterCfg     *rateConfig
	writeTimeout   time.Duration
	// remoteSrcs are the remote keys this client received forwarded
	// packets from; guarded by s.remoteSends.mu.
	remoteSrcs map[key.NodePublic]struct{}
	registered bool // guarded by s.mu
	preferred  bool // guarded by s.mu

	// fwdSeen is a mesh connection's reader's cache; see noteForwarded.
	fwdSeen *forwardedSeen

	// Send side, guarded by queueMu; the writer goroutine drains it.
	queueMu sync.Mutex
	closed  bool
	dataQ   packetRing
	discoQ  packetRing
	// updates are PeerGone and (for watchers) PeerPresent notices, in the
	// order they happened: a watcher must never see a quick connect and
	// disconnect as gone-then-present. Its depth is maxPendingUpdates,
	// raised to fit a watcher's initial snapshot, never cut short.
	updates    dropOldestRing[peerUpdate]
	pongs      dropOldestRing[[wire.PingLen]byte]
	health     *string
	restarting *wire.Restarting
	wake       chan struct{}
	// writerRunning says a writer goroutine exists; writers counts them
	// for run to wait on. keepAliveDue asks the writer for a KeepAlive.
	writerRunning  bool
	lastWriterExit time.Time // when the last writer exited; see writeLoop
	// startStreaming is set by claimWriterLocked for the writer it has the
	// caller start, which reads it once without the lock (the go
	// statement orders the two).
	startStreaming bool
	writerReady    bool // set once ServerInfo is out: nothing may precede it
	keepAliveDue   bool
	writers        sync.WaitGroup
	keepAliveTimer *time.Timer // guarded by queueMu
	// writing is set while the writer is inside a write to the
	// connection: then it waits for the client to read, not for CPU, and
	// a sender gains nothing by yielding to it (see enqueue).
	writing atomic.Bool

	done      chan struct{} // closed by close()
	closeOnce sync.Once
	drained   chan struct{} // closed by the writer after a Restarting frame and empty queues
}

// newSclient is the state of a connection admitted by the handshake.
func (s *Server) newSclient(nc net.Conn, k key.NodePublic, ci wire.ClientInfo, info ConnInfo, canMesh bool) *sclient {
	c := &sclient{
		s:            s,
		nc:           nc,
		key:          k,
		info:         ci,
		connNum:      s.connNum.Add(1),
		remote:       info.RemoteAddr,
		canMesh:      canMesh,
		notIdeal:     info.NotIdeal,
		connected:    time.Now(),
		writeTimeout: s.writeTimeout,
		dataQ:        packetRing{depth: s.queueDepth},
		discoQ:       packetRing{depth: s.queueDepth},
		updates:      dropOldestRing[peerUpdate]{depth: maxPendingUpdates},
		pongs:        dropOldestRing[[wire.PingLen]byte]{depth: maxPendingPongs},
		wake:         make(chan struct{}, 1),
		done:         make(chan struct{}),
		drained:      make(chan struct{}),
	}
	if canMesh {
		c.writeTimeout = MeshWriteTimeout
	}
	c.logger = s.logger.With("key", k.ShortString(), "remote", info.RemoteAddr, "conn", c.connNum)
	return c
}

// peerUpdate is one PeerPresent (present) or PeerGone notice.
type peerUpdate struct {
	present bool
	pp      wire.PeerPresent    // when present
	key     key.NodePublic      // when gone
	reason  wire.PeerGoneReason // when gone
}

// Limits on control messages waiting for one client; beyond them the
// oldest are dropped (they are advisory, and a client that far behind is
// about to time out anyway).
const (
	maxPendingPongs   = 8
	maxPendingUpdates = 1 << 16
)

// The writer goroutine runs only while a client has something to be sent:
// most of a relay's clients are idle most of the time, and a parked
// goroutine's stack would be most of their memory. Whoever queues work
// while holding queueMu calls claimWriterLocked, then kickWriter after
// unlocking: it starts a writer if none runs, or wakes the one that does.

// claimWriterLocked reports whether the caller must start the writer.
func (c *sclient) claimWriterLocked() bool {
	if c.closed || c.writerRunning || !c.writerReady {
		return false
	}
	c.writerRunning = true
	c.writers.Add(1)
	// A writer started soon after the last one exited has a stream of
	// work to keep up with; see writeLoop.
	c.startStreaming = !c.lastWriterExit.IsZero() && time.Since(c.lastWriterExit) < writerIdleExit
	return true
}

func (c *sclient) kickWriter(start bool) {
	if start {
		go c.writeLoop()
		return
	}
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// hasWorkLocked reports whether anything waits to be written.
func (c *sclient) hasWorkLocked() bool {
	return c.dataQ.len() > 0 || c.discoQ.len() > 0 || c.updates.len() > 0 || c.pongs.len() > 0 || c.health != nil || c.restarting != nil || c.keepAliveDue
}

// queueControl queues a control frame: add records it under queueMu,
// then the writer is started or woken.
func (c *sclient) queueControl(add func()) {
	c.queueMu.Lock()
	add()
	start := c.claimWriterLocked()
	c.queueMu.Unlock()
	c.kickWriter(start)
}

// keepAliveFired queues a KeepAlive; the writer re-arms the timer when it
// writes one.
func (c *sclient) keepAliveFired() {
	c.queueControl(func() { c.keepAliveDue = true })
}

// yieldToWriter lets a woken writer run before the sender's reader goes
// on; a variable so that a test can count the yields.
var yieldToWriter = runtime.Gosched

// enqueue hands a packet to c's writer, dropping c's oldest queued packet
// if the queue is full. It takes ownership of buf.
func (c *sclient) enqueue(src key.NodePublic, buf *[]byte, disco bool) {
	m := c.s.metrics
	c.queueMu.Lock()
	if c.closed {
		c.queueMu.Unlock()
		m.drop(dropGoneDisconnected, disco, len(*buf))
		packetbuf.Put(buf)
		return
	}
	q := &c.dataQ
	if disco {
		q = &c.discoQ
	}
	old, evicted := q.push(queuedPacket{src: src, buf: buf})
	start := c.claimWriterLocked()
	c.queueMu.Unlock()
	c.kickWriter(start)
	if evicted {
		m.drop(dropQueueHead, disco, len(*old.buf))
		packetbuf.Put(old.buf)
		// The receiver's writer is behind. Under overload a sender's
		// reader always has input and would keep the CPU, so writers
		// barely run and queues only churn: yield so the writer we just
		// woke can drain. Not when the writer is blocked in a write (a
		// receiver that stopped reading): yielding would not help it,
		// and the runtime reschedules a yielding goroutine before it
		// polls the network, so a sender yielding on every packet to a
		// stuck receiver would keep every other sender's reader from
		// waking until the write times out.
		if !c.writing.Load() {
			yieldToWriter()
		}
	}
}

func (c *sclient) queuePeerGone(k key.NodePublic, reason wire.PeerGoneReason) {
	c.queueControl(func() { c.addUpdateLocked(peerUpdate{key: k, reason: reason}) })
}

func (c *sclient) queuePresent(pp wire.PeerPresent) {
	c.queueControl(func() { c.addUpdateLocked(peerUpdate{present: true, pp: pp}) })
}

// addUpdateLocked queues a notice; beyond the limit the oldest goes, and
// is counted (a client that far behind is about to time out anyway).
func (c *sclient) addUpdateLocked(u peerUpdate) {
	if c.closed {
		return
	}
	if _, evicted := c.updates.push(u); evicted {
		c.s.metrics.updatesDropped.Inc()
	}
}

// queuePong queues the answer to a Ping; beyond maxPendingPongs the
// oldest goes.
func (c *sclient) queuePong(data [wire.PingLen]byte) {
	c.queueControl(func() { c.pongs.push(data) })
}

func (c *sclient) queueHealth(problem string) {
	c.queueControl(func() { c.health = &problem })
}

func (c *sclient) queueRestarting(r wire.Restarting) {
	c.queueControl(func() { c.restarting = &r })
}

// close shuts the connection; the reader and writer then exit. Queued
// packets are dropped as gone_disconnected.
func (c *sclient) close() {
	c.closeOnce.Do(func() {
		close(c.done)
		closeTransport(c.nc)
		c.queueMu.Lock()
		c.closed = true
		if c.keepAliveTimer != nil {
			c.keepAliveTimer.Stop()
		}
		for _, q := range []*packetRing{&c.dataQ, &c.discoQ} {
			disco := q == &c.discoQ
			for p, ok := q.pop(); ok; p, ok = q.pop() {
				c.s.metrics.drop(dropGoneDisconnected, disco, len(*p.buf))
				packetbuf.Put(p.buf)
			}
		}
		c.queueMu.Unlock()
	})
}

// closeTransport ends nc without waiting on the peer. A WebSocket close
// handshake waits up to 10 s for a client that does not answer, a TLS
// close_notify up to 5 s for one that does not read; connections are
// closed in loops (Close, Shutdown, ClosePeer on a mesh peer's reader,
// access-policy changes), where those waits would add up. A DERP client
// needs neither: the connection ends either way.
func closeTransport(nc net.Conn) {
	switch c := nc.(type) {
	case interface{ CloseNow() error }:
		c.CloseNow()
	case *tls.Conn:
		c.NetConn().Close()
	default:
		nc.Close()
	}
}

// presentFlags describes c in PeerPresent frames.
func (c *sclient) presentFlags() wire.PeerPresentFlags {
	var f wire.PeerPresentFlags
	if c.canMesh {
		f |= wire.PeerPresentIsMeshPeer
	}
	if c.info.IsProber {
		f |= wire.PeerPresentIsProber
	}
	if c.notIdeal {
		f |= wire.PeerPresentNotIdeal
	}
	if f == 0 {
		f = wire.PeerPresentIsRegular
	}
	return f
}
