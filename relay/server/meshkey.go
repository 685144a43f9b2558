package server

import (
	"sync"
	"time"

	"github.com/relayctl/relayctl/relay/wire"
)

// noMeshKeyMsg describes a mesh-only frame (WatchConns, ClosePeer,
// ForwardPacket) from a client that did not present this node's mesh key.
const noMeshKeyMsg = "insufficient permissions: needs this node's mesh key"

func noMeshKeyErr(t wire.FrameType) error { return protoErr(t, noMeshKeyMsg) }

// meshKeyLogEvery spaces the log lines about refused mesh requests: a
// mis-keyed mesh peer retries for as long as it runs.
const meshKeyLogEvery = time.Minute

// sparseLog lets one line through per interval and counts the rest.
type sparseLog struct {
	mu         sync.Mutex
	next       time.Time
	suppressed int
}

// allow reports whether to log now, and how many lines it held back since
// the last one.
func (l *sparseLog) allow(now time.Time, every time.Duration) (ok bool, suppressed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Before(l.next) {
		l.suppressed++
		return false, 0
	}
	l.next = now.Add(every)
	suppressed, l.suppressed = l.suppressed, 0
	return true, suppressed
}

// logNoMeshKey reports a connection closed for a mesh-only frame without
// the mesh key, at most once a minute: it is nearly always a mesh peer
// configured with another key, retrying.
func (c *sclient) logNoMeshKey(pe *wire.FrameError) {
	ok, suppressed := c.s.noMeshKeyLog.allow(time.Now(), meshKeyLogEvery)
	if !ok {
		return
	}
	c.logger.Warn("closing connection: mesh request without our mesh key; if this is a mesh peer, check --mesh-psk-file on both nodes",
		"frame", pe.Type.String(), "sent_mesh_key", !c.info.MeshKey.IsZero(), "we_have_mesh_key", c.s.HasMeshKey(), "suppressed", suppressed)
}

// wrongMeshKeyHint explains a rejected client that sent a mesh key: a mesh
// peer with another key is admitted as a regular client, or not at all.
func wrongMeshKeyHint(ci wire.ClientInfo) string {
	if ci.MeshKey.IsZero() {
		return ""
	}
	return "; it sent a mesh key that is not this node's: if it is a mesh peer, check --mesh-psk-file on both nodes"
}
