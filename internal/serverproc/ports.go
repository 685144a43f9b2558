package serverproc

import (
	"net"
	"sync"
)

var (
	portsMu sync.Mutex
	// given holds the ports handed out so far, UDP ones as negatives, so
	// that two servers of one process never race for the same port.
	given = map[int]bool{}
)

// maxPortTries bounds the search for a port not handed out before.
const maxPortTries = 100

// FreeTCPPort is a TCP port on 127.0.0.1 that the kernel just reported
// free and that this process has not handed out before. The server binds
// it a moment later, so a caller should retry the start if it was taken
// in between.
func FreeTCPPort() (int, error) {
	return freePort(func() (int, error) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		defer ln.Close()
		return ln.Addr().(*net.TCPAddr).Port, nil
	}, 1)
}

// FreeUDPPort is FreeTCPPort for UDP.
func FreeUDPPort() (int, error) {
	return freePort(func() (int, error) {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		defer pc.Close()
		return pc.LocalAddr().(*net.UDPAddr).Port, nil
	}, -1)
}

func freePort(pick func() (int, error), sign int) (int, error) {
	portsMu.Lock()
	defer portsMu.Unlock()
	for range maxPortTries {
		p, err := pick()
		if err != nil {
			return 0, err
		}
		if !given[sign*p] {
			given[sign*p] = true
			return p, nil
		}
	}
	return 0, ErrNoFreePort
}
