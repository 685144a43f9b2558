//go:build !linux

package stunserver

import (
	"errors"
	"net"
	"net/netip"
)

// Elsewhere replies leave a wildcard socket from whatever source address
// the kernel routes them by: right on single-homed hosts.
type localAddrControl struct{}

var controlBufLen = 0

func enableLocalAddrControl(*net.UDPConn) (localAddrControl, error) {
	return localAddrControl{}, errors.ErrUnsupported
}

func (localAddrControl) enabled() bool { return false }

func (localAddrControl) arrivalAddr([]byte) (netip.Addr, uint32, bool) { return netip.Addr{}, 0, false }

func (localAddrControl) appendSourceControl(dst []byte, _ netip.Addr, _ uint32) []byte { return dst }
