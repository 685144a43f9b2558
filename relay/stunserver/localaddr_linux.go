//go:build linux

package stunserver

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// On a wildcard socket the kernel picks a reply's source address by route,
// which on a multi-homed host may differ from the address the client wrote
// to; the client then drops the reply. So we ask the kernel for each
// datagram's destination address (IPV6_RECVPKTINFO, or IP_PKTINFO on an
// IPv4-only socket) and send the reply with that address as its source.
// A dual-stack socket reports IPv4 arrivals as IPv4-mapped IPV6_PKTINFO,
// and the kernel accepts a mapped source back in IPV6_PKTINFO.

const (
	pktinfoOff = iota
	pktinfoIPv4
	pktinfoIPv6
)

// localAddrControl reads arrival addresses from, and writes source
// addresses into, control messages.
type localAddrControl struct{ mode int }

// enableLocalAddrControl turns on arrival-address reporting for c.
func enableLocalAddrControl(c *net.UDPConn) (localAddrControl, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return localAddrControl{}, err
	}
	mode := pktinfoOff
	var v6err, v4err error
	if err := raw.Control(func(fd uintptr) {
		if v6err = unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO, 1); v6err == nil {
			mode = pktinfoIPv6
			return
		}
		if v4err = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_PKTINFO, 1); v4err == nil {
			mode = pktinfoIPv4
		}
	}); err != nil {
		return localAddrControl{}, err
	}
	if mode == pktinfoOff {
		return localAddrControl{}, fmt.Errorf("IPV6_RECVPKTINFO: %v; IP_PKTINFO: %w", v6err, v4err)
	}
	return localAddrControl{mode: mode}, nil
}

func (l localAddrControl) enabled() bool { return l.mode != pktinfoOff }

// controlBufLen fits the one pktinfo message the kernel sends per datagram,
// with room to spare for anything else it adds.
var controlBufLen = 2 * unix.CmsgSpace(unix.SizeofInet6Pktinfo)

// arrivalAddr finds the datagram's destination address in oob.
//
//	in6_pktinfo: addr(16) | ifindex(4, native order)
//	in_pktinfo:  ifindex(4, native order) | spec_dst(4) | addr(4)
//
// For IPv4 we take spec_dst, the local address the kernel would answer
// from, which equals the destination for unicast.
func (l localAddrControl) arrivalAddr(oob []byte) (addr netip.Addr, ifindex uint32, ok bool) {
	for len(oob) >= unix.CmsgLen(0) {
		h, data, rest, err := unix.ParseOneSocketControlMessage(oob)
		if err != nil {
			return netip.Addr{}, 0, false
		}
		oob = rest
		switch {
		case h.Level == unix.IPPROTO_IPV6 && h.Type == unix.IPV6_PKTINFO && len(data) >= unix.SizeofInet6Pktinfo:
			return netip.AddrFrom16([16]byte(data[:16])), binary.NativeEndian.Uint32(data[16:20]), true
		case h.Level == unix.IPPROTO_IP && h.Type == unix.IP_PKTINFO && len(data) >= unix.SizeofInet4Pktinfo:
			return netip.AddrFrom4([4]byte(data[4:8])), binary.NativeEndian.Uint32(data[0:4]), true
		}
	}
	return netip.Addr{}, 0, false
}

// appendSourceControl appends to dst (which must start 8-byte aligned, as
// cmsghdr does) a control message making local the reply's source. The
// interface is pinned only for IPv6 link-local sources, which mean nothing
// without one; otherwise routing chooses.
func (l localAddrControl) appendSourceControl(dst []byte, local netip.Addr, ifindex uint32) []byte {
	if !local.Is6() || local.Is4In6() || !local.IsLinkLocalUnicast() {
		ifindex = 0
	}
	switch l.mode {
	case pktinfoIPv6:
		var info unix.Inet6Pktinfo
		info.Addr = local.As16()
		info.Ifindex = ifindex
		return appendControl(dst, unix.IPPROTO_IPV6, unix.IPV6_PKTINFO, unsafe.Slice((*byte)(unsafe.Pointer(&info)), unix.SizeofInet6Pktinfo))
	case pktinfoIPv4:
		if !local.Unmap().Is4() {
			return dst
		}
		var info unix.Inet4Pktinfo
		info.Spec_dst = local.Unmap().As4()
		return appendControl(dst, unix.IPPROTO_IP, unix.IP_PKTINFO, unsafe.Slice((*byte)(unsafe.Pointer(&info)), unix.SizeofInet4Pktinfo))
	}
	return dst
}

func appendControl(dst []byte, level, typ int32, data []byte) []byte {
	start := len(dst)
	space := unix.CmsgSpace(len(data))
	dst = append(dst, make([]byte, space)...)
	h := (*unix.Cmsghdr)(unsafe.Pointer(&dst[start]))
	h.Level, h.Type = level, typ
	h.SetLen(unix.CmsgLen(len(data)))
	copy(dst[start+unix.CmsgLen(0):], data)
	return dst
}
