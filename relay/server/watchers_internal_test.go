package server

import (
	"encoding/binary"
	"sync/atomic"
	"testing"

	"github.com/relayctl/relayctl/relay/key"
	"github.com/relayctl/relayctl/relay/wire"
)

func newBareServer(t *testing.T) *Server {
	t.Helper()
	s, err := New(Options{PrivateKey: key.NewNode()})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var bareKeys atomic.Uint64

// bareClient is a registered connection with no transport: nothing is
// written for it (its writer never starts), so its queues only fill. Its
// key is made up (a real key pair costs too much to make 65 536 of).
func bareClient(s *Server) *sclient {
	var raw [32]byte
	binary.BigEndian.PutUint64(raw[:], bareKeys.Add(1))
	c := s.newSclient(nil, key.NodePublicFromRaw32(raw[:]), wire.ClientInfo{}, ConnInfo{}, false)
	c.registered = true
	return c
}

// TestWatcherSnapshotNotTruncated: a watcher subscribing to a node with
// more keys than the usual notice limit gets every one of them.
func TestWatcherSnapshotNotTruncated(t *testing.T) {
	s := newBareServer(t)
	const keys = maxPendingUpdates + 1000
	for range keys {
		c := bareClient(s)
		set := &clientSet{conns: []*sclient{c}}
		set.active.Store(c)
		s.clients.Store(c.key, set)
	}
	w := bareClient(s)
	s.addWatcher(w)
	if got := w.updates.len(); got != keys {
		t.Fatalf("watcher's snapshot holds %d of %d keys", got, keys)
	}
	// Changes after the snapshot drop the oldest only beyond the usual
	// limit's worth of room.
	c := bareClient(s)
	s.mu.Lock()
	s.broadcastPresentLocked(c)
	s.mu.Unlock()
	if got := w.updates.len(); got != keys+1 {
		t.Fatalf("after one change the watcher holds %d notices, want %d", got, keys+1)
	}
	if got := s.metrics.updatesDropped.Value(); got != 0 {
		t.Fatalf("%d notices counted as dropped, want 0", got)
	}
}

// TestDroppedNoticesCounted: notices beyond the limit are dropped oldest
// first, and every drop is counted.
func TestDroppedNoticesCounted(t *testing.T) {
	s := newBareServer(t)
	w := bareClient(s)
	gone := bareClient(s).key
	for range maxPendingUpdates + 7 {
		w.queuePeerGone(gone, 0)
	}
	if got := w.updates.len(); got != maxPendingUpdates {
		t.Fatalf("%d notices queued, want the limit %d", got, maxPendingUpdates)
	}
	if got := s.metrics.updatesDropped.Value(); got != 7 {
		t.Fatalf("relayctl_peer_updates_dropped = %d, want 7", got)
	}
}
