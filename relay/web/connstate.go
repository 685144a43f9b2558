package web

import (
	"log/slog"
	"net"
	"net/http"
	"sync"

	"github.com/relayctl/relayctl/internal/metrics"
)

// ConnStateLogger returns an http.Server.ConnState hook that counts
// connections closed before they sent a single request: load-balancer
// health checks and port scanners mostly, also stuck clients and slowloris
// attempts, which the server's header timeout ends. They are normal, so
// each is logged at debug level only; relayctl_empty_connections counts
// them. Connections that made a request are not counted here.
func ConnStateLogger(logger *slog.Logger, reg *metrics.Registry) func(net.Conn, http.ConnState) {
	if reg == nil {
		reg = metrics.NewRegistry()
	}
	empty := reg.Counter("relayctl_empty_connections", "TCP connections closed before sending a request (health checks, scanners)")
	var fresh sync.Map // net.Conn → struct{}, until its first request
	return func(c net.Conn, state http.ConnState) {
		switch state {
		case http.StateNew:
			fresh.Store(c, struct{}{})
		case http.StateActive, http.StateHijacked:
			fresh.Delete(c)
		case http.StateClosed:
			if _, ok := fresh.LoadAndDelete(c); ok {
				empty.Inc()
				logger.Debug("connection closed before sending a request", "remote", c.RemoteAddr().String())
			}
		}
	}
}
