package listen

import (
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestKeepAliveZeroIsOff: a KeepAlive of 0 turns TCP keepalives off, as 0
// means off for every duration setting (net's own 0 is a 15 s default).
func TestKeepAliveZeroIsOff(t *testing.T) {
	for _, tc := range []struct {
		keepAlive time.Duration
		want      int
	}{{0, 0}, {10 * time.Minute, 1}} {
		ln, err := TCP(t.Context(), "127.0.0.1:0", TCPOptions{KeepAlive: tc.keepAlive})
		if err != nil {
			t.Fatal(err)
		}
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		s, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		raw, err := s.(*net.TCPConn).SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		var got int
		var gerr error
		raw.Control(func(fd uintptr) { got, gerr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_KEEPALIVE) })
		if gerr != nil || got != tc.want {
			t.Errorf("KeepAlive %v: SO_KEEPALIVE %d (%v), want %d", tc.keepAlive, got, gerr, tc.want)
		}
		s.Close()
		c.Close()
		ln.Close()
	}
}
