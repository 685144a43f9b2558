package server

import (
	"encoding/binary"
	"sync"
	"sync/atomic"

	"github.com/relayctl/relayctl/relay/key"
	"github.com/relayctl/relayctl/relay/wire"
)

// remoteSendLog remembers which local clients received packets forwarded
// from remote keys, so they hear PeerGone when a remote key leaves the
// region. Forwarded packets arrive on mesh connections other than the one
// that later reports the key gone, so this lives on the server.
//
// The log changes only when a remote sender reaches a new receiver, comes
// through another node, or leaves: each mesh connection's reader keeps a
// small cache of what it already noted (forwardedSeen), so a forwarded
// packet normally costs no lock and no map write.
type remoteSendLog struct {
	mu      sync.Mutex
	senders map[key.NodePublic]*remoteSender
}

// remoteSender is what the log knows of one remote key.
type remoteSender struct {
	receivers map[*sclient]struct{} // guarded by remoteSendLog.mu
	// via is the node (its mesh connection's key) that last forwarded
	// the sender to us; guarded by remoteSendLog.mu. viaConn is that mesh
	// connection's number, for the readers' lock-free check.
	via     key.NodePublic
	viaConn atomic.Uint64
	// gone is set when the entry leaves the log (the sender left, or its
	// last receiver closed): cached references to it are stale.
	gone atomic.Bool
}

// note records that dst received a packet from src, forwarded by the mesh
// connection via, and returns src's entry.
func (l *remoteSendLog) note(src key.NodePublic, dst, via *sclient) *remoteSender {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.senders == nil {
		l.senders = map[key.NodePublic]*remoteSender{}
	}
	rs := l.senders[src]
	if rs == nil {
		rs = &remoteSender{receivers: map[*sclient]struct{}{}}
		l.senders[src] = rs
	}
	rs.via = via.key
	rs.viaConn.Store(via.connNum)
	if _, ok := rs.receivers[dst]; !ok {
		rs.receivers[dst] = struct{}{}
		if dst.remoteSrcs == nil {
			dst.remoteSrcs = map[key.NodePublic]struct{}{}
		}
		dst.remoteSrcs[src] = struct{}{}
	}
	return rs
}

// removeLocked takes src's entry out of the log.
func (l *remoteSendLog) removeLocked(src key.NodePublic, rs *remoteSender) {
	delete(l.senders, src)
	rs.gone.Store(true)
}

// peerGone tells every receiver of src that it left, and forgets src.
func (l *remoteSendLog) peerGone(src key.NodePublic) {
	l.mu.Lock()
	defer l.mu.Unlock()
	rs := l.senders[src]
	if rs == nil {
		return
	}
	l.removeLocked(src, rs)
	for c := range rs.receivers {
		delete(c.remoteSrcs, src)
		c.queuePeerGone(src, wire.PeerGoneDisconnected)
	}
}

// forget drops a closed connection from the entries that name it.
func (l *remoteSendLog) forget(c *sclient) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for src := range c.remoteSrcs {
		if rs := l.senders[src]; rs != nil {
			delete(rs.receivers, c)
			if len(rs.receivers) == 0 {
				l.removeLocked(src, rs)
			}
		}
	}
	c.remoteSrcs = nil
}

// forwardedSeen is a mesh connection reader's cache of the (sender,
// receiving connection) pairs it has noted in the log: direct-mapped, so
// it stays small however many pairs a region carries; a pair that lost its
// slot is noted again, under the lock.
type forwardedSeen [forwardedSeenSlots]seenPair

const forwardedSeenSlots = 1024 // a power of two

type seenPair struct {
	src     key.NodePublic
	dstConn uint64 // the receiving connection's number
	rs      *remoteSender
}

// noteForwarded records, for PeerGone, that a packet from the remote key
// src, forwarded over c, is being delivered to the local connection to.
// Only c's reader calls it.
func (c *sclient) noteForwarded(src key.NodePublic, to *sclient) {
	if c.fwdSeen == nil {
		c.fwdSeen = new(forwardedSeen)
	}
	raw := src.Raw32()
	h := binary.LittleEndian.Uint64(raw[:8]) ^ (to.connNum * 0x9e3779b97f4a7c15)
	slot := &c.fwdSeen[h&(forwardedSeenSlots-1)]
	if rs := slot.rs; rs != nil && slot.src == src && slot.dstConn == to.connNum &&
		!rs.gone.Load() && rs.viaConn.Load() == c.connNum {
		return
	}
	*slot = seenPair{src: src, dstConn: to.connNum, rs: c.s.remoteSends.note(src, to, c)}
}
