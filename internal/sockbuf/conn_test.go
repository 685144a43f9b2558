package sockbuf

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"testing"

	"github.com/relayctl/relayctl/internal/testcert"
)

// scriptedConn hands out its data in the pieces given, each as large as
// the reader asks for, as a socket would with that much queued; it counts
// the reads that reach it.
type scriptedConn struct {
	net.Conn
	pieces [][]byte
	reads  int
}

func (s *scriptedConn) Read(p []byte) (int, error) {
	s.reads++
	if len(s.pieces) == 0 {
		return 0, io.EOF
	}
	n := copy(p, s.pieces[0])
	s.pieces[0] = s.pieces[0][n:]
	if len(s.pieces[0]) == 0 {
		s.pieces = s.pieces[1:]
	}
	return n, nil
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	return b
}

func TestReadKeepsTheStream(t *testing.T) {
	tests := []struct {
		name    string
		pieces  []int // bytes queued at each point the reader catches up
		readLen int
	}{
		{"one_backlog_small_reads", []int{200 << 10}, 517},
		{"one_backlog_record_reads", []int{200 << 10}, 16<<10 + 517},
		{"trickle", []int{100, 1, 5000, 3, 40000, 7}, 1024},
		{"backlog_then_trickle", []int{100 << 10, 10, 20, 30 << 10, 5}, 2048},
		{"reads_larger_than_buffer", []int{300 << 10}, 64 << 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var want []byte
			sc := &scriptedConn{}
			for _, n := range tt.pieces {
				p := pattern(n)
				want = append(want, p...)
				sc.pieces = append(sc.pieces, p)
			}
			c := New(sc)
			var got []byte
			buf := make([]byte, tt.readLen)
			for {
				n, err := c.Read(buf)
				got = append(got, buf[:n]...)
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("read %d bytes, want %d, or they differ", len(got), len(want))
			}
			if c.buf != nil {
				t.Error("buffer still held after EOF")
			}
		})
	}
}

// A backlog comes in with reads of the full buffer, not of the caller's
// slice: crypto/tls asks for about one record plus 512 bytes.
func TestBacklogTakesFewReads(t *testing.T) {
	const total = 1 << 20
	const ask = 16<<10 + 517
	count := func(r io.Reader, sc *scriptedConn) int {
		buf := make([]byte, ask)
		for {
			if _, err := r.Read(buf); err != nil {
				return sc.reads
			}
		}
	}
	direct := &scriptedConn{pieces: [][]byte{pattern(total)}}
	ahead := &scriptedConn{pieces: [][]byte{pattern(total)}}
	nDirect, nAhead := count(direct, direct), count(New(ahead), ahead)
	if nAhead > total/BufferSize+3 || nAhead*3 > nDirect*2 {
		t.Fatalf("%d reads through Conn for a %d-byte backlog, %d directly", nAhead, total, nDirect)
	}
}

// A quiet connection waits holding no buffer: a read that did not fill the
// caller's slice means the backlog is gone.
func TestQuietConnectionHoldsNoBuffer(t *testing.T) {
	sc := &scriptedConn{pieces: [][]byte{pattern(100 << 10), pattern(300), pattern(200)}}
	c := New(sc)
	buf := make([]byte, 4096)
	for range 25 {
		if _, err := c.Read(buf); err != nil {
			t.Fatal(err)
		}
	}
	if c.buf == nil {
		t.Fatal("no buffer borrowed during the backlog")
	}
	for len(sc.pieces) == 3 || c.r < c.w { // the backlog
		c.Read(buf)
	}
	c.Read(buf) // the 300 bytes: a light read
	if c.buf != nil {
		t.Fatal("buffer held after the backlog was drained by a light read")
	}
	c.Read(buf) // waits (here: the 200 bytes) without a buffer
	if c.buf != nil || c.busy {
		t.Fatal("quiet connection borrowed a buffer")
	}
}

func TestReadAllocatesNothing(t *testing.T) {
	if underRace {
		t.Skip("the race detector allocates")
	}
	sc := &scriptedConn{}
	c := New(sc)
	buf := make([]byte, 1024)
	data := pattern(64 << 10)
	pieces := make([][]byte, 1)
	allocs := testing.AllocsPerRun(100, func() {
		pieces[0] = data
		sc.pieces = pieces
		for len(sc.pieces) > 0 || c.r < c.w {
			c.Read(buf)
		}
	})
	if allocs > 0 {
		t.Fatalf("%.1f allocations per 64 KiB read through Conn", allocs)
	}
}

// Through a real TLS session on loopback, the bytes arrive unchanged.
func TestUnderTLS(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cert := testcert.ValidNow(t, "127.0.0.1")
	srv := tls.NewListener(Listener{ln}, &tls.Config{Certificates: []tls.Certificate{cert}})
	want := pattern(3 << 20)
	errc := make(chan error, 1)
	go func() {
		c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			errc <- err
			return
		}
		defer c.Close()
		for p := want; len(p) > 0; p = p[min(len(p), 1200):] {
			if _, err := c.Write(p[:min(len(p), 1200)]); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	sc, err := srv.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	got := make([]byte, len(want))
	if _, err := io.ReadFull(sc, got); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("bytes differ after TLS")
	}
}

// writeCounter counts the writes that reach the socket.
type writeCounter struct {
	net.Conn
	writes int
	err    error
}

func (w *writeCounter) Write(p []byte) (int, error) {
	w.writes++
	if w.err != nil {
		return 0, w.err
	}
	return w.Conn.Write(p)
}

// A held TLS Write of many records reaches the socket as one write, and
// the peer reads it unchanged.
func TestHoldWritesRecordsTogether(t *testing.T) {
	tests := []struct {
		name       string
		size       int
		hold       bool
		wantWrites int
	}{
		{"not_held_32k", 32 << 10, false, 2}, // crypto/tls: one write per record (16 KiB at most)
		{"held_32k", 32 << 10, true, 1},
		{"held_64k", 64 << 10, true, 1},
		{"held_larger_than_gather", 200 << 10, true, 3},
		{"held_one_record", 16 << 10, true, 1},
	}
	cert := testcert.ValidNow(t, "127.0.0.1")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := net.Pipe()
			defer a.Close()
			defer b.Close()
			wc := &writeCounter{Conn: a}
			c := New(wc)
			client := tls.Client(c, &tls.Config{InsecureSkipVerify: true, DynamicRecordSizingDisabled: true})
			server := tls.Server(b, &tls.Config{Certificates: []tls.Certificate{cert}})
			want := pattern(tt.size)
			got := make([]byte, len(want))
			errc := make(chan error, 1)
			go func() {
				if err := server.Handshake(); err != nil {
					errc <- err
					return
				}
				_, err := io.ReadFull(server, got)
				errc <- err
			}()
			if err := client.Handshake(); err != nil {
				t.Fatal(err)
			}
			wc.writes = 0
			if tt.hold {
				c.Hold(len(want))
				if held := len(want) > maxRecord; c.holding != held {
					t.Errorf("Hold(%d): holding = %v, want %v", len(want), c.holding, held)
				}
			}
			if _, err := client.Write(want); err != nil {
				t.Fatal(err)
			}
			if tt.hold {
				if err := c.Release(); err != nil {
					t.Fatal(err)
				}
			}
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatal("the peer read different bytes")
			}
			if wc.writes != tt.wantWrites {
				t.Errorf("%d writes reached the socket, want %d", wc.writes, tt.wantWrites)
			}
			if c.out != nil {
				t.Error("gather buffer kept after Release")
			}
		})
	}
}

// A gathered write that fails is Release's error, and the next write goes
// straight through.
func TestReleaseReportsWriteError(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	wc := &writeCounter{Conn: a, err: net.ErrClosed}
	c := New(wc)
	c.Hold(100 << 10)
	if n, err := c.Write([]byte("gathered")); n != 8 || err != nil {
		t.Fatalf("held Write = %d, %v", n, err)
	}
	if wc.writes != 0 {
		t.Fatal("held Write reached the socket")
	}
	if err := c.Release(); err != net.ErrClosed {
		t.Fatalf("Release = %v, want the socket's error", err)
	}
	if _, err := c.Write([]byte("x")); err != net.ErrClosed || wc.writes != 2 {
		t.Fatalf("Write after Release = %v after %d socket writes", err, wc.writes)
	}
}

func TestUnderFindsConn(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	c := New(a)
	if Under(tls.Client(c, &tls.Config{})) != c {
		t.Error("Under(TLS over Conn) is not the Conn")
	}
	if Under(tls.Client(a, &tls.Config{})) != nil || Under(a) != nil {
		t.Error("Under found a Conn where there is none")
	}
}
