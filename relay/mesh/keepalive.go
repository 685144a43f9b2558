package mesh

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"sync/atomic"
	"time"
)

// Dead-link detection. TCP reports a peer that resets or closes, but not a
// path that silently loses everything: writes still land in the socket
// buffer and reads just wait (for the client's 120 s receive timeout). So
// the mesh client pings its peer and drops the connection when a pong is
// late: a silent link is given up at most PingInterval + PongTimeout after
// it went silent.
const (
	// PingInterval is the pause between a pong and the next ping.
	PingInterval = 1 * time.Second
	// PongTimeout is how long a ping may go unanswered. On a saturated
	// link a ping waits behind the batch being written and the bytes in
	// flight: about 4 s at 1 Mbit/s with 200 ms each way (measured by the
	// interop test TestMeshFaultSlowLink), over 6 s on a busy machine.
	// This leaves room for that.
	PongTimeout = 9 * time.Second
)

// errLinkDead: a ping went unanswered for the pong timeout.
var errLinkDead = errors.New("link dead")

// pingConn is the part of a mesh connection the keepalive uses.
type pingConn interface {
	SendPing(data [8]byte) error
	Close() error
}

// keepalive pings one mesh connection. The session hands it every pong's
// payload; when a pong is late it closes the connection, which ends the
// session's Recv, and err then says why.
type keepalive struct {
	c                 pingConn
	interval, timeout time.Duration
	want              atomic.Uint64 // the outstanding ping's payload; 0: none
	answered          chan struct{}
	late              atomic.Bool
}

func newKeepalive(c pingConn, interval, timeout time.Duration) *keepalive {
	return &keepalive{c: c, interval: interval, timeout: timeout, answered: make(chan struct{}, 1)}
}

// pong takes a pong's payload from the receive loop, which it never
// blocks; pongs to other pings are ignored.
func (k *keepalive) pong(data [8]byte) {
	v := binary.BigEndian.Uint64(data[:])
	if v != 0 && k.want.CompareAndSwap(v, 0) {
		select {
		case k.answered <- struct{}{}:
		default:
		}
	}
}

// err is errLinkDead, wrapped with the timeout, once a pong was late.
func (k *keepalive) err() error {
	if k.late.Load() {
		return fmt.Errorf("no pong within %v: %w", k.timeout, errLinkDead)
	}
	return nil
}

// run pings every interval until ctx ends or a pong is late. The pong
// timer runs from before the ping is written: a write stuck behind a full
// socket buffer counts against the same bound.
func (k *keepalive) run(ctx context.Context) {
	wait := time.NewTimer(k.interval)
	defer wait.Stop()
	// One pong timer for the whole run, re-armed for every ping.
	late := time.AfterFunc(time.Hour, func() {
		k.late.Store(true)
		k.c.Close()
	})
	late.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-wait.C:
		}
		v := mrand.Uint64() | 1 // never 0, which means none
		var token [8]byte
		binary.BigEndian.PutUint64(token[:], v)
		k.want.Store(v)
		late.Reset(k.timeout)
		if k.c.SendPing(token) != nil || !k.awaitPong(ctx) {
			late.Stop()
			return // the session sees the broken connection itself
		}
		if !late.Stop() {
			return // the pong and the timeout crossed; the connection is closed
		}
		wait.Reset(k.interval)
	}
}

// awaitPong waits for the outstanding ping's pong; false if ctx ended.
func (k *keepalive) awaitPong(ctx context.Context) bool {
	select {
	case <-ctx.Done():
		return false
	case <-k.answered:
		return true
	}
}
