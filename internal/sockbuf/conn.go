// Package sockbuf buffers between a TLS layer and its socket, and only
// while the connection is busy.
//
// crypto/tls reads one record per Read and asks its connection for about
// one record's worth of bytes at a time, so a busy TLS connection costs a
// read system call per record (per packet, when the peer writes one record
// per packet). Below the TLS layer, a Conn reads a backlog in large pieces
// and hands it out from memory; a quiet connection reads straight into the
// caller's slice and holds no buffer, so idle connections cost nothing
// extra.
//
// On the way out, crypto/tls writes each record (at most 16 KiB of data)
// with its own system call. A writer that knows a large Write is coming
// brackets it with Hold and Release, and its records leave in one.
package sockbuf

import (
	"crypto/tls"
	"net"
	"sync"
)

// BufferSize is the most one read system call brings in while busy.
const BufferSize = 32 << 10

var buffers = sync.Pool{New: func() any { b := make([]byte, BufferSize); return &b }}

// Conn is a net.Conn whose reads go through a pooled buffer while data
// keeps arriving faster than it is read. Its Read is not safe for
// concurrent use (crypto/tls and bufio never read concurrently); every
// other method is the underlying connection's.
type Conn struct {
	net.Conn
	buf  *[]byte // borrowed while busy
	r, w int     // (*buf)[r:w] is read but not handed out
	busy bool    // the last read filled the space it was given

	// Writes: the TLS layer's own writes (alerts on Close) may come from
	// another goroutine than the holder's.
	wmu     sync.Mutex
	holding bool
	out     *[]byte // gathered writes, borrowed between Hold and Release
}

// New wraps c.
func New(c net.Conn) *Conn { return &Conn{Conn: c} }

// Read hands out buffered bytes first. With none buffered, it reads into
// the pooled buffer when the previous read suggested a backlog, and
// straight into p otherwise.
func (c *Conn) Read(p []byte) (int, error) {
	if c.r < c.w {
		n := copy(p, (*c.buf)[c.r:c.w])
		c.r += n
		return n, nil
	}
	if len(p) == 0 {
		return 0, nil
	}
	if !c.busy || len(p) >= BufferSize {
		// Quiet (likely to wait now) or the caller asks for much:
		// read into p, holding no buffer while waiting.
		c.release()
		n, err := c.Conn.Read(p)
		c.busy = n == len(p)
		return n, err
	}
	if c.buf == nil {
		c.buf = buffers.Get().(*[]byte)
	}
	n, err := c.Conn.Read(*c.buf)
	// Stay busy while reads come back at least half full; after a
	// lighter one the next read probably waits, so it should not hold
	// the buffer.
	c.busy = n >= BufferSize/2
	c.r, c.w = 0, n
	k := copy(p, (*c.buf)[:n])
	c.r = k
	if c.r == c.w && !c.busy {
		c.release()
	}
	if k > 0 {
		// Any error comes again with the next read from the
		// connection; the bytes read go first.
		return k, nil
	}
	return 0, err
}

// release gives the buffer back; only when nothing is buffered.
func (c *Conn) release() {
	if c.buf != nil {
		buffers.Put(c.buf)
		c.buf = nil
	}
	c.r, c.w = 0, 0
}

// GatherSize is the most that one system call writes for a Hold: a 64 KiB
// Write with its TLS records' framing.
const GatherSize = 80 << 10

var gatherBufs = sync.Pool{New: func() any { b := make([]byte, 0, GatherSize); return &b }}

// Under returns the Conn below c when c is a TLS connection over one,
// else nil.
func Under(c net.Conn) *Conn {
	if tc, ok := c.(*tls.Conn); ok {
		sc, _ := tc.NetConn().(*Conn)
		return sc
	}
	return nil
}

// maxRecord is the most data one TLS record carries.
const maxRecord = 16 << 10

// Hold gathers the writes that follow, until Release, in a pooled
// buffer, when n, the bytes about to be written through TLS, take more
// than one record: a single record gains nothing, and thousands of
// clients' keepalives at once would each borrow a buffer.
func (c *Conn) Hold(n int) {
	if n <= maxRecord {
		return
	}
	c.wmu.Lock()
	c.holding = true
	c.wmu.Unlock()
}

// Release writes what was gathered since Hold with one system call (more
// only when it exceeded GatherSize) and writes straight through again.
func (c *Conn) Release() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.holding = false
	if c.out == nil {
		return nil
	}
	err := c.writeGathered()
	gatherBufs.Put(c.out)
	c.out = nil
	return err
}

// Write writes p, or while held, gathers it. An error of a gathered
// write is Release's.
func (c *Conn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if !c.holding {
		return c.Conn.Write(p)
	}
	if c.out == nil {
		c.out = gatherBufs.Get().(*[]byte)
	}
	if len(*c.out)+len(p) > cap(*c.out) {
		if err := c.writeGathered(); err != nil {
			return 0, err
		}
		if len(p) > cap(*c.out) {
			return c.Conn.Write(p)
		}
	}
	*c.out = append(*c.out, p...)
	return len(p), nil
}

func (c *Conn) writeGathered() error {
	b := *c.out
	*c.out = b[:0]
	if len(b) == 0 {
		return nil
	}
	_, err := c.Conn.Write(b)
	return err
}

// Listener wraps every connection its listener accepts in a Conn.
type Listener struct{ net.Listener }

// Accept returns the next connection, wrapped.
func (l Listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return New(c), nil
}
