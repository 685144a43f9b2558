package web

import (
	"net/http"
	"net/netip"
	"strings"
)

// TrustedProxies are the reverse proxies (nginx and the like, in front of
// WebSocket clients) whose X-Forwarded-For and X-Real-IP headers are
// believed. From anyone else those headers are ignored: a client cannot
// choose the address that per-IP limits, admission and logs see.
type TrustedProxies []netip.Prefix

// Contains reports whether ip is a trusted proxy.
func (t TrustedProxies) Contains(ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, p := range t {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// ClientAddr is the address of the client behind r. direct is the TCP
// peer. When it is a trusted proxy, the client is the right-most address
// of X-Forwarded-For that is not itself a trusted proxy (each proxy
// appends what it saw), else X-Real-IP; its port is unknown (0).
func (t TrustedProxies) ClientAddr(r *http.Request, direct netip.AddrPort) netip.AddrPort {
	if len(t) == 0 || !direct.IsValid() || !t.Contains(direct.Addr()) {
		return direct
	}
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(v, ",")...)
	}
	for i := len(hops) - 1; i >= 0; i-- {
		ip, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return direct // a mangled chain proves nothing
		}
		if !t.Contains(ip) {
			return netip.AddrPortFrom(ip.Unmap(), 0)
		}
	}
	if ip, err := netip.ParseAddr(strings.TrimSpace(r.Header.Get("X-Real-IP"))); err == nil {
		return netip.AddrPortFrom(ip.Unmap(), 0)
	}
	return direct
}
