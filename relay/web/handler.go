// Package web is the HTTP face of a relay node: the /derp upgrade (HTTP
// Upgrade and WebSocket) that hands connections to relay/server, the probe
// and captive-portal endpoints clients use, bootstrap DNS, the home page,
// robots.txt, the loopback-only /debug/ pages, the Prometheus endpoint for
// a separate metrics listener, the port-80 companion of a TLS relay and
// the http.Server settings they all run under. Paths, status codes and
// headers follow Tailscale's derper so that clients, probers and
// dashboards written for it keep working.
package web

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"

	"github.com/relayctl/relayctl/internal/metrics"
)

// Options configure a Handler.
type Options struct {
	// DERP serves the exact path /derp (upgrade to DERP or WebSocket). Nil
	// means the node does not relay: /derp answers 404.
	DERP http.Handler

	// Home is the --home value: "" for the built-in page, "blank" for an
	// empty page, or an http(s) URL to redirect / to.
	Home string

	// Hostname is the node's public name, shown on the built-in home page.
	Hostname string

	// BootstrapDNSNames are the names /bootstrap-dns publishes
	// (--bootstrap-dns-names).
	BootstrapDNSNames []string

	// UnpublishedBootstrapDNSNames are answered by /bootstrap-dns only to a
	// client asking for one by name (?q=); "name/record" limits the answer
	// to the share of clients given by the TXT record "record"
	// (--unpublished-bootstrap-dns-names).
	UnpublishedBootstrapDNSNames []string

	// TrustedProxies may name the client in X-Forwarded-For/X-Real-IP
	// (the address that picks a client's rollout share).
	TrustedProxies TrustedProxies

	// Metrics is the registry behind /debug/varz and /debug/metrics. Process
	// metrics and the bootstrap_dns_* counters are added to it. Nil means a
	// private registry.
	Metrics *metrics.Registry

	// Logger receives bootstrap DNS failures. Nil discards.
	Logger *slog.Logger

	// DebugInfo supplies the key/value lines at the top of /debug/ (uptime,
	// version, hostname, whether a mesh key is set …). It is called per
	// request. Nil shows none.
	DebugInfo func() []KeyValue

	// Resolver looks up BootstrapDNSNames (and rollout records when it is
	// a TXTResolver too). Nil means net.DefaultResolver.
	Resolver Resolver

	// DebugElsewhere takes /debug/ off this handler (it answers 404): the
	// pages are served by DebugHandler on a listener of their own
	// (--debug-addr), e.g. because this one sits behind a TLS terminator
	// on the same host, where every client arrives from loopback.
	DebugElsewhere bool
}

// KeyValue is one line of the /debug/ index.
type KeyValue struct {
	Key, Value string
}

// Resolver is the part of *net.Resolver that bootstrap DNS needs.
type Resolver interface {
	LookupIP(ctx context.Context, network, host string) ([]net.IP, error)
}

// Handler routes a relay node's HTTP requests. Close it to stop its
// background work.
type Handler struct {
	mux       *http.ServeMux
	debug     http.Handler
	dns       *bootstrapDNS
	stop      context.CancelFunc
	stopped   chan struct{}
	closeOnce sync.Once
}

// NewHandler validates opts and returns the node's HTTP handler. It starts
// the bootstrap DNS refresher when names are configured.
func NewHandler(opts Options) (*Handler, error) {
	home, err := newHomeHandler(opts.Home, opts.Hostname, opts.DERP != nil, !opts.DebugElsewhere)
	if err != nil {
		return nil, err
	}
	reg := opts.Metrics
	if reg == nil {
		reg = metrics.NewRegistry()
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	resolver := opts.Resolver
	if resolver == nil {
		resolver = net.DefaultResolver
	}
	registerProcessMetrics(reg)

	h := &Handler{
		mux:     http.NewServeMux(),
		dns:     newBootstrapDNS(opts.BootstrapDNSNames, resolver, reg, logger),
		stopped: make(chan struct{}),
	}
	h.dns.unpublished = newUnpublishedDNS(opts.UnpublishedBootstrapDNSNames, resolver, reg, logger)
	h.dns.trusted = opts.TrustedProxies
	h.debug = newDebugHandler(reg, opts.DebugInfo)
	debugHere := h.debug
	if opts.DebugElsewhere {
		debugHere = http.NotFoundHandler()
	}
	h.routes(opts.DERP, home, debugHere)

	ctx, stop := context.WithCancel(context.Background())
	h.stop = stop
	go func() {
		defer close(h.stopped)
		h.dns.run(ctx, bootstrapDNSRefreshInterval)
	}()
	return h, nil
}

// routes mirrors derper's main mux: exact paths for the endpoints, /debug/
// as a subtree, and the home page for everything else (unknown paths do
// not 404).
func (h *Handler) routes(derp, home, debug http.Handler) {
	if derp == nil {
		derp = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "derp server disabled", http.StatusNotFound)
		})
	}
	h.mux.Handle("/derp", derp)
	h.mux.HandleFunc("/derp/probe", ServeProbe)
	h.mux.HandleFunc("/derp/latency-check", ServeProbe)
	h.mux.HandleFunc("/generate_204", ServeNoContent)
	h.mux.Handle("/bootstrap-dns", withBrowserHeaders(h.dns))
	h.mux.Handle("/robots.txt", withBrowserHeaders(http.HandlerFunc(serveRobots)))
	h.mux.Handle("/debug/", debug)
	h.mux.Handle("/", withBrowserHeaders(home))
}

// DebugHandler serves /debug/ (with the same access checks) for a
// listener of its own; see Options.DebugElsewhere.
func (h *Handler) DebugHandler() http.Handler { return h.debug }

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mux.ServeHTTP(w, r)
}

// Close stops the bootstrap DNS refresher and waits for it to exit.
// Requests may still be served afterwards, from the last answers.
func (h *Handler) Close() error {
	h.closeOnce.Do(h.stop)
	<-h.stopped
	return nil
}

// checkHomeFlag accepts the --home values derper accepts.
func checkHomeFlag(home string) (redirect *url.URL, err error) {
	switch home {
	case "", "blank":
		return nil, nil
	}
	u, err := url.Parse(home)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf(`--home %q: want "" (built-in page), "blank" or an http:// or https:// URL`, home)
	}
	return u, nil
}
