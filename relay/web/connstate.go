package web

import (
	"log/slog"
	"net"
	"net/http"
	"sync"
)

// ConnStateLogger returns an http.Server.ConnState hook that logs
// connections closed before they sent a single request: scanners, stuck
// clients and slowloris attempts, which the server's header timeout ends.
// Connections that made a request are not logged here.
func ConnStateLogger(logger *slog.Logger) func(net.Conn, http.ConnState) {
	var fresh sync.Map // net.Conn → struct{}, until its first request
	return func(c net.Conn, state http.ConnState) {
		switch state {
		case http.StateNew:
			fresh.Store(c, struct{}{})
		case http.StateActive, http.StateHijacked:
			fresh.Delete(c)
		case http.StateClosed:
			if _, ok := fresh.LoadAndDelete(c); ok {
				logger.Info("connection closed before sending a request", "remote", c.RemoteAddr().String())
			}
		}
	}
}
