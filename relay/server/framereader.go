package server

import (
	"bufio"
	"io"
	"sync"
)

// Read buffers. An idle client holds only the small one (most of a
// relay's clients are idle); while a client sends steadily, its reader
// borrows a large pooled buffer so one system call brings in many frames.
const (
	smallReadBuf = 1 << 10
	bigReadBuf   = 32 << 10
)

var bigReadBufs = sync.Pool{New: func() any { b := make([]byte, bigReadBuf); return &b }}

// frameReader reads a client's frames with as little memory as it can
// while the client is quiet.
type frameReader struct {
	rd    io.Reader
	buf   []byte  // small[:] or *big
	big   *[]byte // borrowed while busy
	r, w  int     // buf[r:w] holds unread bytes
	heavy bool    // the last read filled at least half of the big buffer
	small [smallReadBuf]byte
}

// init starts reading from rd after the bytes br already holds (pipelined
// frames that came with the upgrade request); br is not used afterwards.
func (fr *frameReader) init(rd io.Reader, br *bufio.Reader) {
	fr.rd = rd
	fr.buf = fr.small[:]
	if br == nil {
		return
	}
	n := br.Buffered()
	if n > len(fr.small) {
		fr.borrow()
	}
	if n > len(fr.buf) {
		// More than even the big buffer: read the rest through br.
		fr.rd = io.MultiReader(br, rd)
		n = 0
	}
	pending, _ := br.Peek(n)
	fr.w = copy(fr.buf, pending)
}

func (fr *frameReader) borrow() {
	fr.big = bigReadBufs.Get().(*[]byte)
	copy(*fr.big, fr.buf[fr.r:fr.w])
	fr.w -= fr.r
	fr.r = 0
	fr.buf = *fr.big
}

// release returns the big buffer; call it only when nothing is buffered.
func (fr *frameReader) release() {
	if fr.big != nil {
		bigReadBufs.Put(fr.big)
		fr.big = nil
	}
	fr.buf = fr.small[:]
	fr.r, fr.w = 0, 0
}

// fill reads more bytes, choosing the buffer by how busy the client is.
func (fr *frameReader) fill() error {
	switch {
	case fr.r == fr.w:
		fr.r, fr.w = 0, 0
		switch {
		case fr.big != nil && !fr.heavy:
			// Drained after a light read: likely to wait now, so
			// wait holding only the small buffer.
			fr.release()
		case fr.big == nil && fr.heavy:
			// The last read filled the small buffer: more is
			// waiting, read it in one go.
			fr.borrow()
		}
	case fr.big == nil && fr.w == len(fr.buf):
		// The small buffer is full and a frame is still incomplete:
		// data is flowing, borrow the big one.
		fr.borrow()
	case fr.r > 0:
		fr.w = copy(fr.buf, fr.buf[fr.r:fr.w])
		fr.r = 0
	}
	space := len(fr.buf) - fr.w
	n, err := fr.rd.Read(fr.buf[fr.w:])
	fr.w += n
	if fr.big != nil {
		fr.heavy = n >= bigReadBuf/2
	} else {
		fr.heavy = n == space
	}
	if n > 0 {
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

// need makes sure k bytes (k ≤ smallReadBuf) are buffered.
func (fr *frameReader) need(k int) error {
	for fr.w-fr.r < k {
		if fr.big == nil && fr.r+k > len(fr.buf) && fr.r > 0 {
			fr.w = copy(fr.buf, fr.buf[fr.r:fr.w])
			fr.r = 0
		}
		if err := fr.fill(); err != nil {
			if err == io.EOF && fr.w > fr.r {
				return io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}

// Peek returns the next k bytes (k ≤ smallReadBuf) without consuming
// them; with an error, what is buffered. With Discard it makes
// frameReader a wire.Reader.
func (fr *frameReader) Peek(k int) ([]byte, error) {
	if fr.w-fr.r < k {
		if err := fr.need(k); err != nil {
			return fr.buf[fr.r:fr.w], err
		}
	}
	return fr.buf[fr.r : fr.r+k], nil
}

// readFull fills p: from the buffer first, then straight from the
// connection when what is left is large, so big packets are not copied
// twice.
func (fr *frameReader) readFull(p []byte) error {
	n := copy(p, fr.buf[fr.r:fr.w])
	fr.r += n
	p = p[n:]
	if len(p) == 0 {
		return nil
	}
	if len(p) >= len(fr.buf)/2 {
		_, err := io.ReadFull(fr.rd, p)
		return unexpected(err)
	}
	for len(p) > 0 {
		if err := fr.fill(); err != nil {
			return unexpected(err)
		}
		n := copy(p, fr.buf[fr.r:fr.w])
		fr.r += n
		p = p[n:]
	}
	return nil
}

// Discard skips k bytes.
func (fr *frameReader) Discard(k int) (int, error) {
	if fr.w-fr.r >= k {
		fr.r += k
		return k, nil
	}
	for done := 0; done < k; {
		if fr.r == fr.w {
			if err := fr.fill(); err != nil {
				return done, unexpected(err)
			}
		}
		n := min(k-done, fr.w-fr.r)
		fr.r += n
		done += n
	}
	return k, nil
}

// close returns a borrowed buffer when the connection ends.
func (fr *frameReader) close() { fr.release() }
