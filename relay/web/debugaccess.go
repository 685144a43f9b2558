package web

import (
	"net"
	"net/http"
	"net/netip"
)

// proxyHeaders are the headers a reverse proxy adds. A proxy on the same
// host connects from loopback, so a request carrying any of them may come
// from anywhere and is refused debug access.
var proxyHeaders = []string{"X-Forwarded-For", "Forwarded", "X-Real-IP"}

// DebugAllowed reports whether r may see /debug/: only a direct connection
// from a loopback address. It looks at the connection's address alone,
// never at Host or other request-controlled data.
func DebugAllowed(r *http.Request) bool {
	for _, h := range proxyHeaders {
		if len(r.Header.Values(h)) > 0 {
			return false
		}
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
