package netcheck

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
)

// procNetRoute is Linux's IPv4 routing table, one route a line:
// Iface Destination Gateway Flags RefCnt Use Metric Mask ...; addresses in
// hex, in the host's (little-endian) byte order.
const procNetRoute = "/proc/net/route"

// Route flags from <linux/route.h>.
const (
	rtfUp      = 0x1
	rtfGateway = 0x2
)

// errNoGateway means the host has no default route through a private
// (RFC 1918) gateway: nothing to ask for port mapping.
var errNoGateway = errors.New("no default route through a private IPv4 gateway")

// DefaultGateway is the default IPv4 gateway (from /proc/net/route, Linux)
// and this host's IPv4 address on the interface that reaches it. Like
// Tailscale's client it only accepts a private (RFC 1918) gateway: a
// public one is an ISP's router, not a home router that maps ports.
func DefaultGateway() (gateway, self netip.Addr, err error) {
	f, err := os.Open(procNetRoute)
	if err != nil {
		return netip.Addr{}, netip.Addr{}, fmt.Errorf("default gateway: %w", err)
	}
	defer f.Close()
	ifname, gw, err := parseDefaultRoute(f)
	if err != nil {
		return netip.Addr{}, netip.Addr{}, err
	}
	self, err = interfaceIPv4(ifname, gw)
	if err != nil {
		return netip.Addr{}, netip.Addr{}, fmt.Errorf("default gateway %s on %s: %w", gw, ifname, err)
	}
	return gw, self, nil
}

// parseDefaultRoute finds the first up default route (destination 0)
// through a private gateway.
func parseDefaultRoute(r io.Reader) (ifname string, gw netip.Addr, err error) {
	sc := bufio.NewScanner(r)
	sc.Scan() // header
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || f[1] != "00000000" {
			continue
		}
		gwb, err1 := hex.DecodeString(f[2])
		flags, err2 := hex.DecodeString(fmt.Sprintf("%08s", f[3]))
		if err1 != nil || err2 != nil || len(gwb) != 4 || len(flags) != 4 {
			continue
		}
		if binary.BigEndian.Uint32(flags)&(rtfUp|rtfGateway) != rtfUp|rtfGateway {
			continue
		}
		ip := netip.AddrFrom4([4]byte{gwb[3], gwb[2], gwb[1], gwb[0]})
		if ip.IsPrivate() {
			return f[0], ip, nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", netip.Addr{}, fmt.Errorf("%s: %w", procNetRoute, err)
	}
	return "", netip.Addr{}, errNoGateway
}

// interfaceIPv4 is ifname's IPv4 address in the gateway's subnet, else its
// first IPv4 address.
func interfaceIPv4(ifname string, gw netip.Addr) (netip.Addr, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return netip.Addr{}, err
	}
	addrs, err := ifi.Addrs()
	if err != nil {
		return netip.Addr{}, err
	}
	var first netip.Addr
	for _, a := range addrs {
		pfx, err := netip.ParsePrefix(a.String())
		if err != nil || !pfx.Addr().Is4() {
			continue
		}
		if pfx.Contains(gw) {
			return pfx.Addr(), nil
		}
		if !first.IsValid() {
			first = pfx.Addr()
		}
	}
	if !first.IsValid() {
		return netip.Addr{}, errors.New("interface has no IPv4 address")
	}
	return first, nil
}
