package listen

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/relayctl/relayctl/internal/metrics"
)

// serveCapped accepts on a capped loopback listener and holds every
// accepted connection until the test ends.
func serveCapped(t *testing.T, caps Caps) (addr string, accepted chan net.Conn, reg *metrics.Registry) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	reg = metrics.NewRegistry()
	capped := Capped(ln, caps, reg)
	accepted = make(chan net.Conn, 16)
	go func() {
		for {
			c, err := capped.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	t.Cleanup(func() { capped.Close() })
	return ln.Addr().String(), accepted, reg
}

func dialFrom(t *testing.T, local, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedByServer reports whether the server hung up on c.
func closedByServer(c net.Conn) bool {
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, err := c.Read(make([]byte, 1))
	return err != nil && !isTimeout(err)
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

func TestCapsPerIP(t *testing.T) {
	addr, accepted, _ := serveCapped(t, Caps{MaxPerIP: 2, Exempt: func(a netip.Addr) bool { return a == netip.MustParseAddr("127.0.0.3") }})
	dialFrom(t, "127.0.0.1", addr)
	dialFrom(t, "127.0.0.1", addr)
	<-accepted
	<-accepted
	over := dialFrom(t, "127.0.0.1", addr)
	if !closedByServer(over) {
		t.Fatal("third connection from one IP was not closed")
	}
	other := dialFrom(t, "127.0.0.2", addr)
	<-accepted
	if closedByServer(other) {
		t.Fatal("another IP was turned away")
	}
	for range 3 {
		dialFrom(t, "127.0.0.3", addr)
		<-accepted
	}
}

func TestCapsTotalAndRelease(t *testing.T) {
	addr, accepted, reg := serveCapped(t, Caps{Max: 1})
	dialFrom(t, "127.0.0.1", addr)
	first := <-accepted
	if !closedByServer(dialFrom(t, "127.0.0.2", addr)) {
		t.Fatal("connection over the total cap was not closed")
	}
	first.Close()
	second := dialFrom(t, "127.0.0.2", addr)
	select {
	case <-accepted:
	case <-time.After(5 * time.Second):
		t.Fatal("slot not released after close")
	}
	if closedByServer(second) {
		t.Fatal("connection after release was closed")
	}
	if !reg.Has("relayctl_conns_rejected") {
		t.Fatal("rejections not counted")
	}
}

func TestNoCapsNoWrapper(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	if Capped(ln, Caps{}, metrics.NewRegistry()) != ln {
		t.Fatal("wrapped without caps")
	}
}
