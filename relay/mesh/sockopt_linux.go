package mesh

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// setNotSentLowat caps what the socket holds unsent at notSentLowat bytes.
func setNotSentLowat(c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_NOTSENT_LOWAT, notSentLowat)
	})
	if err != nil {
		return err
	}
	return serr
}
