package sockbuf

import (
	"crypto/tls"
	"io"
	"net"
	"sync/atomic"
	"testing"

	"github.com/relayctl/relayctl/internal/testcert"
)

// countingConn counts the reads that reach the socket: one system call each.
type countingConn struct {
	net.Conn
	reads *atomic.Int64
}

func (c countingConn) Read(p []byte) (int, error) {
	c.reads.Add(1)
	return c.Conn.Read(p)
}

// BenchmarkTLSRecordPerPacket measures a relay's side of a TLS stream
// from a client that writes one record per 1200-byte packet, as
// Tailscale's client does: the reader takes each record with a 32 KiB
// read, as the relay's frame reader does. reads/record is read system
// calls per packet.
func BenchmarkTLSRecordPerPacket(b *testing.B) {
	for _, tt := range []struct {
		name string
		wrap func(net.Conn) net.Conn
	}{
		{"direct", func(c net.Conn) net.Conn { return c }},
		{"readahead", func(c net.Conn) net.Conn { return New(c) }},
	} {
		b.Run(tt.name, func(b *testing.B) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			defer ln.Close()
			cert := testcert.ValidNow(b, "127.0.0.1")
			const size = 1200
			n := b.N
			go func() {
				c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true})
				if err != nil {
					return
				}
				defer c.Close()
				pkt := make([]byte, size)
				for range n {
					if _, err := c.Write(pkt); err != nil {
						return
					}
				}
			}()
			raw, err := ln.Accept()
			if err != nil {
				b.Fatal(err)
			}
			var reads atomic.Int64
			sc := tls.Server(tt.wrap(countingConn{raw, &reads}), &tls.Config{Certificates: []tls.Certificate{cert}})
			defer sc.Close()
			if err := sc.Handshake(); err != nil {
				b.Fatal(err)
			}
			reads.Store(0)
			b.SetBytes(size)
			b.ResetTimer()
			buf := make([]byte, 32<<10)
			for got := 0; got < n*size; {
				k, err := sc.Read(buf)
				if err != nil && err != io.EOF {
					b.Fatal(err)
				}
				got += k
			}
			b.ReportMetric(float64(reads.Load())/float64(n), "reads/record")
		})
	}
}
