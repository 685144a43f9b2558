package web

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// proxyHeaders are the headers a reverse proxy adds. A proxy on the same
// host connects from loopback, so a request carrying any of them may come
// from anywhere and is refused debug access.
var proxyHeaders = []string{"X-Forwarded-For", "Forwarded", "X-Real-IP"}

// DebugAllowed reports whether r may see /debug/: only a direct connection
// from a loopback address, asking for the relay by IP or as localhost.
// Access is granted by the connection's address alone; Host can only take
// it away: a browser lured to a page whose DNS name is rebound to 127.0.0.1
// sends that name, never an IP literal or localhost.
func DebugAllowed(r *http.Request) bool {
	for _, h := range proxyHeaders {
		if len(r.Header.Values(h)) > 0 {
			return false
		}
	}
	if !literalHost(r.Host) {
		return false
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	return ip.Unmap().IsLoopback()
}

// literalHost reports whether a Host header names no DNS name: an IP
// literal or localhost, with or without a port.
func literalHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	_, err := netip.ParseAddr(host)
	return err == nil
}
