package web

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// MaxHeaderBytes caps a request's header block on every HTTP server a
// relay runs. DERP and WebSocket upgrades, probes and scrapes send a few
// hundred bytes; Go's default (1 MiB) would let each connection hold a
// megabyte of whatever a client sends.
const MaxHeaderBytes = 8 << 10

// ServerOptions tune NewServer.
type ServerOptions struct {
	// WriteTimeout defaults to 30 s.
	WriteTimeout time.Duration
	// Logger receives net/http's own complaints (TLS handshake errors
	// and the like) at debug level: clients cause them, an operator
	// cannot act on them. Nil discards.
	Logger *slog.Logger
}

// NewServer returns an http.Server for h with the limits every relay
// listener shares: header size and time, read and write time.
func NewServer(h http.Handler, opts ServerOptions) *http.Server {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	wt := opts.WriteTimeout
	if wt <= 0 {
		wt = 30 * time.Second
	}
	return &http.Server{
		Handler:           h,
		MaxHeaderBytes:    MaxHeaderBytes,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      wt,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
	}
}

// Serve runs srv on ln until it is shut down or closed, which is not an
// error; any other end is, named after the listener (name).
func Serve(srv *http.Server, ln net.Listener, name string) error {
	err := srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) || errors.Is(err, net.ErrClosed) {
		return nil
	}
	return fmt.Errorf("%s listener: %w", name, err)
}
