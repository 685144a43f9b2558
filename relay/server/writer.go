package server

import (
	"errors"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/relayctl/relayctl/internal/packetbuf"
	"github.com/relayctl/relayctl/internal/sockbuf"
	"github.com/relayctl/relayctl/relay/key"
	"github.com/relayctl/relayctl/relay/wire"
)

// writeBufSize is how many bytes the writer gathers before a write
// syscall. The buffer is pooled and held only while there is something to
// write, so idle clients cost no buffer.
const writeBufSize = 32 << 10

var writeBufPool = sync.Pool{New: func() any { b := make([]byte, 0, writeBufSize); return &b }}

// pendingWork is what the writer took from the queues in one pass.
type pendingWork struct {
	packets    []queuedPacket
	updates    []peerUpdate
	pongs      [][wire.PingLen]byte
	health     *string
	restarting *wire.Restarting
	keepAlive  bool
}

func (w *pendingWork) empty() bool {
	return len(w.packets) == 0 && len(w.updates) == 0 && len(w.pongs) == 0 && w.health == nil && w.restarting == nil && !w.keepAlive
}

func (w *pendingWork) reset() {
	clear(w.packets)
	w.packets = w.packets[:0]
	w.updates = w.updates[:0]
	w.pongs = w.pongs[:0]
	w.health, w.restarting = nil, nil
	w.keepAlive = false
}

// take moves everything queued for c into w. Control frames are taken
// with the packets so one pass writes them all; the queues are taken
// alternately disco-first so neither kind starves the other.
func (c *sclient) take(w *pendingWork) {
	c.queueMu.Lock()
	defer c.queueMu.Unlock()
	for u, ok := c.updates.pop(); ok; u, ok = c.updates.pop() {
		w.updates = append(w.updates, u)
	}
	for p, ok := c.pongs.pop(); ok; p, ok = c.pongs.pop() {
		w.pongs = append(w.pongs, p)
	}
	w.health, c.health = c.health, nil
	w.restarting, c.restarting = c.restarting, nil
	w.keepAlive, c.keepAliveDue = c.keepAliveDue, false
	for p, ok := c.discoQ.pop(); ok; p, ok = c.discoQ.pop() {
		w.packets = append(w.packets, p)
	}
	for p, ok := c.dataQ.pop(); ok; p, ok = c.dataQ.pop() {
		w.packets = append(w.packets, p)
	}
}

// writerIdleExit is how long a writer that has a stream of work waits
// for more before it exits; a busy client keeps its writer, an idle one
// holds none. A variable so that tests can stretch it.
var writerIdleExit = time.Second

// writeLoop is the only goroutine that writes to the connection after the
// handshake. It runs while there is work (see claimWriterLocked).
//
// A writer started after a quiet spell is most likely for a one-off (a
// disco ping, a keepalive): it exits as soon as its work is done, rather
// than keep a goroutine, and its stack, for writerIdleExit. Thousands of
// idle clients get their keepalives within seconds of each other. Work
// that keeps coming makes it a stream, which keeps its writer (starting
// one per packet would cost more).
func (c *sclient) writeLoop() {
	defer c.writers.Done()
	streaming := c.startStreaming
	var work pendingWork
	fw := frameWriter{conn: c.nc, gather: sockbuf.Under(c.nc), timeout: c.writeTimeout, writing: &c.writing, m: c.s.metrics}
	defer fw.release()
	var idle *time.Timer // made once the writer waits for more work
	defer func() {
		if idle != nil {
			idle.Stop()
		}
	}()
	for {
		if !c.writeQueued(&fw, &work) {
			return
		}
		if !streaming {
			if c.exitIfIdle() {
				return
			}
			streaming = true
		}
		if idle == nil {
			idle = time.NewTimer(writerIdleExit)
		} else {
			idle.Reset(writerIdleExit)
		}
		select {
		case <-c.done:
			return
		case <-c.wake:
		case <-idle.C:
			if c.exitIfIdle() {
				return
			}
		}
	}
}

// writeQueued writes everything queued, and what is queued meanwhile,
// then flushes. It reports false when the connection failed and is now
// closed.
func (c *sclient) writeQueued(fw *frameWriter, work *pendingWork) bool {
	sawRestart, sawKeepAlive := false, false
	frames := 0
	for fw.err == nil {
		c.take(work)
		if work.empty() {
			break
		}
		frames += c.writeWork(fw, work)
		sawRestart = sawRestart || work.restarting != nil
		sawKeepAlive = sawKeepAlive || work.keepAlive
		work.reset()
	}
	fw.flush()
	if frames > 0 {
		c.s.metrics.bufferedWriteBatch.Observe(float64(frames))
	}
	fw.release()
	if fw.err != nil {
		c.noteWriteError(fw.err)
		c.close()
		return false
	}
	if sawKeepAlive {
		c.queueMu.Lock()
		if !c.closed {
			c.keepAliveTimer.Reset(c.s.nextKeepAlive())
		}
		c.queueMu.Unlock()
	}
	if sawRestart {
		close(c.drained)
	}
	return true
}

// exitIfIdle ends the writer's turn if nothing waits to be written, and
// gives back the queues' storage: the client is quiet.
func (c *sclient) exitIfIdle() bool {
	c.queueMu.Lock()
	defer c.queueMu.Unlock()
	if c.hasWorkLocked() {
		return false
	}
	c.writerRunning = false
	c.lastWriterExit = time.Now()
	c.dataQ.release()
	c.discoQ.release()
	c.updates.release()
	c.pongs.release()
	return true
}

// writeWork writes one pass of frames, control frames first, and returns
// how many frames it wrote.
func (c *sclient) writeWork(fw *frameWriter, w *pendingWork) int {
	m := c.s.metrics
	n := 0
	var scratch [wire.PeerPresentLen]byte
	if w.health != nil {
		fw.frame(wire.FrameHealth, []byte(*w.health))
		n++
	}
	// Notices before pongs: a mesh peer that pings after WatchConns knows
	// the subscription's whole list has arrived when its pong does.
	for _, u := range w.updates {
		if u.present {
			fw.frame(wire.FramePeerPresent, wire.AppendPeerPresent(scratch[:0], u.pp))
		} else {
			fw.frame(wire.FramePeerGone, wire.AppendPeerGone(scratch[:0], u.key, u.reason))
			if u.reason == wire.PeerGoneNotHere {
				m.peerGoneNotHere.Inc()
			} else {
				m.peerGoneDisconn.Inc()
			}
		}
		n++
	}
	for _, p := range w.pongs {
		fw.frame(wire.FramePong, p[:])
		m.sentPong.Inc()
		n++
	}
	for i, p := range w.packets {
		// A packet taken into the buffer is counted when the write that
		// carries it ends: sent, or dropped if that write fails.
		if fw.packet(p.src, *p.buf, wire.IsDisco(*p.buf)) {
			n++
		} else {
			m.drop(dropWriteError, wire.IsDisco(*p.buf), len(*p.buf))
		}
		packetbuf.Put(p.buf)
		w.packets[i].buf = nil
	}
	if w.keepAlive {
		fw.frame(wire.FrameKeepAlive, nil)
		n++
	}
	if w.restarting != nil {
		fw.frame(wire.FrameRestarting, wire.AppendRestarting(scratch[:0], *w.restarting))
		n++
	}
	return n
}

func (c *sclient) noteWriteError(err error) {
	select {
	case <-c.done:
		return // we closed it; not the client's fault
	default:
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		c.s.metrics.writeTimeouts.Inc()
		c.logger.Info("closing connection: write timed out (client not reading)", "timeout", c.writeTimeout)
		return
	}
	if !errors.Is(err, net.ErrClosed) {
		c.logger.Debug("write failed", "err", err)
	}
}

// frameWriter gathers frames into a pooled buffer and writes it to the
// connection with a fresh deadline for every write.
type frameWriter struct {
	conn    net.Conn
	gather  *sockbuf.Conn // below conn when it is TLS: one system call per write, not per record
	timeout time.Duration
	writing *atomic.Bool // set while a write is in progress; see sclient.writing
	buf     *[]byte
	err     error

	// unwritten counts the packets gathered since the last write, by
	// kind (0 other, 1 disco). The write that carries them decides
	// whether they were sent or dropped: counting them sent when they
	// are gathered lost every packet of a buffer whose write timed out.
	m         *serverMetrics
	unwritten [2]struct{ packets, bytes int64 }
}

func (fw *frameWriter) ensure(n int) {
	if fw.buf == nil {
		fw.buf = writeBufPool.Get().(*[]byte)
	}
	if len(*fw.buf)+n > cap(*fw.buf) && len(*fw.buf) > 0 {
		fw.flush()
	}
}

func (fw *frameWriter) frame(t wire.FrameType, payload []byte) {
	if fw.err != nil {
		return
	}
	fw.ensure(wire.FrameHeaderLen + len(payload))
	b := wire.AppendFrameHeader(*fw.buf, t, uint32(len(payload)))
	*fw.buf = append(b, payload...)
}

// packet gathers (or, when large, writes) a RecvPacket frame. It reports
// whether it took the packet; after a failed write it takes none.
func (fw *frameWriter) packet(src key.NodePublic, pkt []byte, disco bool) bool {
	if fw.err != nil {
		return false
	}
	if wire.RecvPacketHeadLen+len(pkt) > writeBufSize {
		// Too big to gather: flush what is pending and send head and
		// payload with one writev, without copying the payload.
		fw.flush()
		if fw.err != nil {
			return false
		}
		fw.ensure(wire.RecvPacketHeadLen)
		*fw.buf = wire.AppendRecvPacketHead(*fw.buf, src, len(pkt))
		fw.note(disco, len(pkt))
		fw.writeVector(*fw.buf, pkt)
		*fw.buf = (*fw.buf)[:0]
		return true
	}
	fw.ensure(wire.RecvPacketHeadLen + len(pkt))
	if fw.err != nil {
		return false
	}
	*fw.buf = append(wire.AppendRecvPacketHead(*fw.buf, src, len(pkt)), pkt...)
	fw.note(disco, len(pkt))
	return true
}

func (fw *frameWriter) note(disco bool, n int) {
	u := &fw.unwritten[kindIndex(disco)]
	u.packets++
	u.bytes += int64(n)
}

// settle counts the packets the write that just ended carried.
func (fw *frameWriter) settle() {
	for k := range fw.unwritten {
		u := &fw.unwritten[k]
		if u.packets == 0 {
			continue
		}
		if fw.err == nil {
			fw.m.packetsSent.Add(u.packets)
			fw.m.bytesSent.Add(u.bytes)
		} else {
			fw.m.dropMany(dropWriteError, k == 1, u.packets, u.bytes)
		}
		*u = struct{ packets, bytes int64 }{}
	}
}

// vectorWrite is what one writev needs, kept on the heap and pooled: a
// net.Buffers made on the stack escapes through WriteTo, which cost two
// allocations per large packet.
type vectorWrite struct {
	vec  [2][]byte
	bufs net.Buffers
}

var vectorWrites = sync.Pool{New: func() any { return new(vectorWrite) }}

// writeVector writes hdr and payload with one writev where the
// connection can (TCP), without copying payload.
func (fw *frameWriter) writeVector(hdr, payload []byte) {
	if fw.err != nil {
		return
	}
	v := vectorWrites.Get().(*vectorWrite)
	v.vec = [2][]byte{hdr, payload}
	v.bufs = v.vec[:]
	fw.startWrite(len(hdr) + len(payload))
	_, err := v.bufs.WriteTo(fw.conn)
	fw.endWrite(err)
	v.vec, v.bufs = [2][]byte{}, nil // hold no packet in the pool
	vectorWrites.Put(v)
}

func (fw *frameWriter) flush() {
	if fw.err != nil || fw.buf == nil || len(*fw.buf) == 0 {
		return
	}
	fw.startWrite(len(*fw.buf))
	_, err := fw.conn.Write(*fw.buf)
	fw.endWrite(err)
	*fw.buf = (*fw.buf)[:0]
}

// startWrite gives the write about to start a fresh deadline and marks
// the writer as inside a write until endWrite (see sclient.writing).
func (fw *frameWriter) startWrite(n int) {
	if fw.timeout > 0 {
		fw.conn.SetWriteDeadline(time.Now().Add(fw.timeout))
	}
	fw.writing.Store(true)
	if fw.gather != nil {
		fw.gather.Hold(n)
	}
}

func (fw *frameWriter) endWrite(err error) {
	if fw.gather != nil {
		if rerr := fw.gather.Release(); err == nil {
			err = rerr
		}
	}
	fw.writing.Store(false)
	fw.err = err
	fw.settle()
}

// release returns the buffer to the pool; the next frame takes another.
func (fw *frameWriter) release() {
	if fw.buf != nil {
		*fw.buf = (*fw.buf)[:0]
		if cap(*fw.buf) == writeBufSize {
			writeBufPool.Put(fw.buf)
		}
		fw.buf = nil
	}
}
