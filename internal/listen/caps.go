package listen

import (
	"net"
	"net/netip"
	"sync"

	"github.com/relayctl/relayctl/internal/metrics"
)

// Caps bound concurrent connections, in total and per source IP. Zero
// means no cap.
type Caps struct {
	Max      int
	MaxPerIP int
	// Exempt IPs (trusted reverse proxies, which carry many clients) are
	// not held to MaxPerIP.
	Exempt func(netip.Addr) bool
}

// Capped wraps ln so that a connection over a cap is closed at once and
// accepting goes on: only the offender is turned away. Without caps it
// returns ln itself (the wrapper would hide the TCP connection's writev).
func Capped(ln net.Listener, caps Caps, reg *metrics.Registry) net.Listener {
	if caps.Max <= 0 && caps.MaxPerIP <= 0 {
		return ln
	}
	rejected := reg.CounterVec("relayctl_conns_rejected", "connections closed on accept because a cap was reached", "reason")
	return &cappedListener{
		Listener: ln,
		caps:     caps,
		perIP:    map[netip.Addr]int{},
		overMax:  rejected.With("max_conns"),
		overIP:   rejected.With("max_conns_per_ip"),
	}
}

type cappedListener struct {
	net.Listener
	caps Caps

	mu    sync.Mutex
	total int
	perIP map[netip.Addr]int

	overMax, overIP *metrics.Counter
}

func (l *cappedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := remoteIP(c)
		if ok := l.admit(ip); ok {
			return &cappedConn{Conn: c, l: l, ip: ip}, nil
		}
		c.Close()
	}
}

func remoteIP(c net.Conn) netip.Addr {
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}

func (l *cappedListener) admit(ip netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.caps.Max > 0 && l.total >= l.caps.Max {
		l.overMax.Inc()
		return false
	}
	perIPCapped := l.caps.MaxPerIP > 0 && ip.IsValid() && (l.caps.Exempt == nil || !l.caps.Exempt(ip))
	if perIPCapped && l.perIP[ip] >= l.caps.MaxPerIP {
		l.overIP.Inc()
		return false
	}
	l.total++
	if ip.IsValid() {
		l.perIP[ip]++
	}
	return true
}

func (l *cappedListener) release(ip netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if ip.IsValid() {
		if l.perIP[ip]--; l.perIP[ip] <= 0 {
			delete(l.perIP, ip)
		}
	}
}

// cappedConn gives its slot back once, when it is closed.
type cappedConn struct {
	net.Conn
	l    *cappedListener
	ip   netip.Addr
	once sync.Once
}

func (c *cappedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.ip) })
	return err
}
