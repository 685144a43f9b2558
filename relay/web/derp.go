package web

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/relayctl/relayctl/internal/logging"
	"github.com/relayctl/relayctl/internal/metrics"
	"github.com/relayctl/relayctl/relay/server"
	"github.com/relayctl/relayctl/relay/wire"
)

// DERPHandler upgrades /derp requests to the DERP protocol (Upgrade: DERP,
// or WebSocket with the "derp" subprotocol) and hands the connection to s.
// ctx bounds every connection's life: cancel it to stop serving them.
func DERPHandler(ctx context.Context, s *server.Server, logger *slog.Logger) http.Handler {
	return NewDERPHandler(ctx, s, DERPOptions{Logger: logger})
}

// DERPOptions configure NewDERPHandler.
type DERPOptions struct {
	Logger *slog.Logger
	// TrustedProxies may name the client in X-Forwarded-For/X-Real-IP.
	TrustedProxies TrustedProxies
}

// NewDERPHandler is DERPHandler with options.
func NewDERPHandler(ctx context.Context, s *server.Server, opts DERPOptions) http.Handler {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &derpHandler{ctx: ctx, s: s, logger: logger, trusted: opts.TrustedProxies, fastStarts: s.Metrics().Counter(
		"relayctl_fast_start_connections", "DERP upgrades that skipped the HTTP response (TLS 1.3 clients that read our key from the metacert)"),
		badUpgrades: s.Metrics().Counter("relayctl_bad_upgrade_requests", "requests to /derp with an Upgrade header that is neither DERP nor WebSocket")}
}

// maxLoggedHeader is how much of a client-supplied header a log line
// quotes: enough to recognise it, not enough to fill a disk.
const maxLoggedHeader = 64

type derpHandler struct {
	ctx        context.Context
	s          *server.Server
	logger     *slog.Logger
	fastStarts *metrics.Counter
	// badUpgrades counts what the "weird upgrade request" line reports.
	badUpgrades *metrics.Counter
	trusted     TrustedProxies
}

func (h *derpHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	upgrade := strings.ToLower(r.Header.Get("Upgrade"))
	if upgrade == "websocket" && strings.Contains(r.Header.Get("Sec-WebSocket-Protocol"), "derp") {
		h.serveWebSocket(w, r)
		return
	}
	if upgrade != "derp" && upgrade != "websocket" {
		if upgrade != "" {
			h.badUpgrades.Inc()
			h.logger.Info("weird upgrade request", "upgrade", logging.Truncate(r.Header.Get("Upgrade"), maxLoggedHeader), "remote", r.RemoteAddr)
		}
		http.Error(w, "DERP requires connection upgrade", http.StatusUpgradeRequired)
		return
	}
	// A fast-start client has pinned our key from the TLS metacert and sent
	// ClientInfo right behind the request: it expects no HTTP response.
	fastStart := r.Header.Get("Derp-Fast-Start") == "1"
	if fastStart {
		h.fastStarts.Inc()
	}

	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "DERP upgrade needs HTTP/1.1", http.StatusInternalServerError)
		return
	}
	nc, brw, err := hj.Hijack()
	if err != nil {
		h.logger.Info("hijack failed", "remote", r.RemoteAddr, "err", err)
		return
	}
	if !fastStart {
		pub := h.s.PublicKey()
		fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\n"+
			"Upgrade: DERP\r\n"+
			"Connection: Upgrade\r\n"+
			"Derp-Version: %v\r\n"+
			"Derp-Public-Key: %s\r\n\r\n", wire.ProtocolVersion, pub.UntypedHex())
		// Start flushes brw.Writer before its first frame.
	}
	info := server.ConnInfo{
		RemoteAddr: h.trusted.ClientAddr(r, remoteAddrPort(nc.RemoteAddr(), r.RemoteAddr)),
		NotIdeal:   r.Header.Get("Ideal-Node") != "",
	}
	// Serve the connection on a goroutine of its own and let net/http's
	// return: its stack, grown by request parsing, and its buffered writer
	// would otherwise be held for the connection's whole life. Only the
	// hijacked reader's buffered bytes are kept.
	h.s.Start(h.ctx, nc, brw, info)
}

// remoteAddrPort takes the peer address from the socket, falling back to
// the request's RemoteAddr string.
func remoteAddrPort(a net.Addr, fallback string) netip.AddrPort {
	if ta, ok := a.(*net.TCPAddr); ok {
		ap := ta.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	if ap, err := netip.ParseAddrPort(fallback); err == nil {
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	return netip.AddrPort{}
}
