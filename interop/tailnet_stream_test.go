package interop

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"
)

// Long TCP streams through a tailnet, checked end to end.
//
// A sender dials through its tailscaled (the local API's DialTCP, so the
// connection lives in that node's netstack), and the receiving tailscaled,
// in userspace networking, forwards the connection to 127.0.0.1 on the same
// port, where one streamSink serves every stream of the test. The sender
// writes a stream id, then paced length-prefixed chunks of pseudo-random
// bytes, then an empty chunk; the sink answers the byte count and SHA-256
// of everything it read, which must equal what was sent.

const (
	streamChunk = 2 << 10              // bytes per chunk
	streamPace  = 8 * time.Millisecond // one chunk per tick: 256 KiB/s a stream
)

// streamMark is the sink's count for a stream after one read.
type streamMark struct {
	at    time.Time
	total int64
}

// streamRecord is what the sink saw of one stream.
type streamRecord struct {
	mu    sync.Mutex
	marks []streamMark
}

func (r *streamRecord) total() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.marks) == 0 {
		return 0
	}
	return r.marks[len(r.marks)-1].total
}

// marksSince is a copy of the marks from the last one before t0 on.
func (r *streamRecord) marksSince(t0 time.Time) []streamMark {
	r.mu.Lock()
	defer r.mu.Unlock()
	i := len(r.marks)
	for i > 0 && r.marks[i-1].at.After(t0) {
		i--
	}
	return slices.Clone(r.marks[max(i-1, 0):])
}

// streamSink is the receiving end of every stream: one listener on
// 127.0.0.1, which each receiving tailscaled forwards its port to.
type streamSink struct {
	ln      net.Listener
	mu      sync.Mutex
	streams map[uint64]*streamRecord
	errs    chan error
}

func startStreamSink(t *testing.T) *streamSink {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &streamSink{ln: ln, streams: map[uint64]*streamRecord{}, errs: make(chan error, 16)}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				if err := s.serve(t.Context(), c); err != nil {
					select {
					case s.errs <- err:
					default:
					}
				}
			})
		}
	})
	return s
}

// failures is what went wrong at the sink so far (a stream cut short, a
// bad header): the sender then sees no answer, this says why.
func (s *streamSink) failures() []error {
	var out []error
	for {
		select {
		case err := <-s.errs:
			out = append(out, err)
		default:
			return out
		}
	}
}

func (s *streamSink) port() uint16 { return uint16(s.ln.Addr().(*net.TCPAddr).Port) }

// record is the sink's record of stream id, made on first use.
func (s *streamSink) record(id uint64) *streamRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.streams[id]
	if r == nil {
		r = &streamRecord{}
		s.streams[id] = r
	}
	return r
}

// serve reads one stream to its end and answers count and digest.
func (s *streamSink) serve(ctx context.Context, c net.Conn) error {
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	var hdr [8]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return fmt.Errorf("stream header: %w", err)
	}
	id := binary.BigEndian.Uint64(hdr[:])
	rec := s.record(id)
	h := sha256.New()
	var total int64
	buf := make([]byte, 64<<10)
	for {
		var lenb [4]byte
		if _, err := io.ReadFull(c, lenb[:]); err != nil {
			return fmt.Errorf("stream %d after %d bytes: %w", id, total, err)
		}
		n := int(binary.BigEndian.Uint32(lenb[:]))
		if n == 0 {
			break
		}
		if n > len(buf) {
			return fmt.Errorf("stream %d: chunk of %d bytes", id, n)
		}
		// Read the chunk in whatever pieces arrive, marking each, so the
		// marks show when bytes actually flowed.
		for got := 0; got < n; {
			k, err := c.Read(buf[got:n])
			if k > 0 {
				h.Write(buf[got : got+k])
				got += k
				total += int64(k)
				rec.mu.Lock()
				rec.marks = append(rec.marks, streamMark{at: time.Now(), total: total})
				rec.mu.Unlock()
			}
			if err != nil {
				return fmt.Errorf("stream %d after %d bytes: %w", id, total, err)
			}
		}
	}
	var ans [8 + sha256.Size]byte
	binary.BigEndian.PutUint64(ans[:8], uint64(total))
	copy(ans[8:], h.Sum(nil))
	if _, err := c.Write(ans[:]); err != nil {
		return fmt.Errorf("stream %d answer: %w", id, err)
	}
	return nil
}

// tailnetStream is the sending end of one stream.
type tailnetStream struct {
	id       uint64
	name     string // "n1→n2"
	rec      *streamRecord
	conn     net.Conn
	stop     chan struct{}
	finished chan struct{}
	err      error // valid after finished is closed
	sent     int64
	sum      hash.Hash
}

// startStream dials from src's tailscaled to dst's tailnet address on the
// sink's port and sends paced chunks until finish is called.
func startStream(t *testing.T, sink *streamSink, id uint64, src, dst *tailscaledNode) *tailnetStream {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), tailnetUpTimeout)
	defer cancel()
	ip := dst.tailnetIP(t, ctx)
	st := &tailnetStream{id: id, name: src.name + "→" + dst.name, rec: sink.record(id),
		stop: make(chan struct{}), finished: make(chan struct{}), sum: sha256.New()}
	var err error
	// The first dial can race the peers' WireGuard handshake over DERP.
	waitUntil(t, tailnetUpTimeout, "dial "+st.name, func() error {
		dctx, dcancel := context.WithTimeout(ctx, 10*time.Second)
		defer dcancel()
		st.conn, err = src.client().DialTCP(dctx, ip.String(), sink.port())
		return err
	})
	t.Cleanup(func() { st.conn.Close() })
	var hdr [8]byte
	binary.BigEndian.PutUint64(hdr[:], id)
	if _, err := st.conn.Write(hdr[:]); err != nil {
		t.Fatalf("stream %s: %v", st.name, err)
	}
	go st.run(rand.New(rand.NewChaCha8([32]byte{byte(id)})))
	return st
}

func (st *tailnetStream) run(rng *rand.Rand) {
	defer close(st.finished)
	tick := time.NewTicker(streamPace)
	defer tick.Stop()
	chunk := make([]byte, 4+streamChunk)
	binary.BigEndian.PutUint32(chunk, streamChunk)
	for {
		select {
		case <-st.stop:
			st.err = st.end()
			return
		case <-tick.C:
		}
		data := chunk[4:]
		for i := 0; i < len(data); i += 8 {
			binary.LittleEndian.PutUint64(data[i:], rng.Uint64())
		}
		// A write blocks while the tailnet is down: TCP holds the bytes.
		if _, err := st.conn.Write(chunk); err != nil {
			st.err = fmt.Errorf("stream %s after %d bytes: %w", st.name, st.sent, err)
			return
		}
		st.sum.Write(data)
		st.sent += int64(len(data))
	}
}

// end sends the empty chunk and checks the sink's count and digest.
func (st *tailnetStream) end() error {
	st.conn.SetDeadline(time.Now().Add(tailnetUpTimeout))
	if _, err := st.conn.Write([]byte{0, 0, 0, 0}); err != nil {
		return fmt.Errorf("stream %s end: %w", st.name, err)
	}
	var ans [8 + sha256.Size]byte
	if _, err := io.ReadFull(st.conn, ans[:]); err != nil {
		return fmt.Errorf("stream %s: no answer after %d bytes sent: %w", st.name, st.sent, err)
	}
	got := int64(binary.BigEndian.Uint64(ans[:8]))
	if got != st.sent || !bytes.Equal(ans[8:], st.sum.Sum(nil)) {
		return fmt.Errorf("stream %s: sink read %d bytes with SHA-256 %x; sent %d with %x",
			st.name, got, ans[8:], st.sent, st.sum.Sum(nil))
	}
	return nil
}

// finish ends the stream and reports whether it arrived intact.
func (st *tailnetStream) finish() error {
	close(st.stop)
	select {
	case <-st.finished:
		return st.err
	case <-time.After(2 * tailnetUpTimeout):
		return errors.New("stream " + st.name + " did not finish")
	}
}

// longestPause is the longest time the sink read nothing from a stream
// around a fault at t0: the largest gap between consecutive reads, the
// last read before t0 included. A stream the fault did not touch shows
// about streamPace.
func longestPause(marks []streamMark, t0 time.Time) time.Duration {
	var worst time.Duration
	prev := time.Time{}
	for _, m := range marks {
		if !prev.IsZero() && m.at.After(t0) {
			worst = max(worst, m.at.Sub(prev))
		}
		prev = m.at
	}
	return worst
}

// tailnetIP is the node's IPv4 tailnet address.
func (n *tailscaledNode) tailnetIP(t *testing.T, ctx context.Context) netip.Addr {
	t.Helper()
	st, err := n.client().StatusWithoutPeers(ctx)
	if err != nil {
		t.Fatalf("%s status: %v", n.name, err)
	}
	for _, ip := range st.Self.TailscaleIPs {
		if ip.Is4() {
			return ip
		}
	}
	t.Fatalf("%s has no IPv4 tailnet address: %v", n.name, st.Self.TailscaleIPs)
	return netip.Addr{}
}
