package node

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"golang.org/x/time/rate"

	"github.com/relayctl/relayctl/internal/listen"
	"github.com/relayctl/relayctl/internal/sockbuf"
	"github.com/relayctl/relayctl/relay/mesh"
	"github.com/relayctl/relayctl/relay/web"
)

// webHandler is the node's HTTP handler and the context its DERP
// connections live in, cancelled once the relay has drained them.
type webHandler struct {
	*web.Handler
	cancelConns context.CancelFunc
}

// newWeb builds the HTTP handler: DERP (unless --derp=false), the
// endpoints clients and probes use, and /debug/.
func (n *Node) newWeb(done *cleanups) (*webHandler, error) {
	c := &n.cfg
	trusted, _ := c.trustedProxies()
	connCtx, cancelConns := context.WithCancel(context.Background())
	done.add(cancelConns)
	var derp http.Handler
	if c.DERP {
		derp = web.NewDERPHandler(connCtx, n.relay, web.DERPOptions{Logger: n.logger, TrustedProxies: trusted})
	} else {
		n.logger.Info("DERP disabled (--derp=false): serving STUN, /bootstrap-dns and the probe endpoints only")
	}
	started := time.Now()
	h, err := web.NewHandler(web.Options{
		DERP:              derp,
		Home:              c.Home,
		Hostname:          c.Hostname,
		BootstrapDNSNames: c.BootstrapDNSNames,
		Metrics:           n.reg,
		Logger:            n.logger,
		DebugElsewhere:    c.DebugAddr != "",
		DebugInfo: func() []web.KeyValue {
			return []web.KeyValue{
				{Key: "Uptime", Value: time.Since(started).Round(time.Second).String()},
				{Key: "Version", Value: n.opts.Version},
				{Key: "Hostname", Value: c.Hostname},
				{Key: "Server key", Value: n.relay.PublicKey().String()},
				{Key: "Mesh key", Value: strconv.FormatBool(n.relay.HasMeshKey())},
				{Key: "Connections", Value: strconv.Itoa(n.relay.ConnCount())},
			}
		},
		UnpublishedBootstrapDNSNames: c.UnpublishedBootstrapDNSNames,
		TrustedProxies:               trusted,
	})
	if err != nil {
		return nil, &ConfigError{err}
	}
	done.add(func() { h.Close() })
	return &webHandler{Handler: h, cancelConns: cancelConns}, nil
}

// serving is a node at work: its servers, and where their ends arrive.
type serving struct {
	derp        *http.Server
	cancelConns context.CancelFunc
	others      []*http.Server // port 80, metrics, debug: closed at once
	errc        chan error
	stopSTUN    func() // stops STUN and waits for it
}

// serve starts every listener's server, certificate renewal, the EAB
// check and the mesh.
func (n *Node) serve(h *webHandler, lns *listeners, ts *tlsSetup, done *cleanups) *serving {
	c := &n.cfg
	trusted, _ := c.trustedProxies()
	s := &serving{errc: make(chan error, 6), cancelConns: h.cancelConns} // one per goroutine: derp, port 80, STUN, metrics, debug, EAB check
	ln := listen.RateLimited(lns.derp, rate.Limit(c.AcceptConnLimit), c.AcceptConnBurst, n.reg)
	ln = listen.Capped(ln, listen.Caps{Max: c.MaxConns, MaxPerIP: c.MaxConnsPerIP, Exempt: trusted.Contains}, n.reg)
	if ts != nil {
		// Under TLS, so a busy client's records come in with few reads.
		ln = tls.NewListener(sockbuf.Listener{Listener: ln}, ts.config)
	}
	s.derp = web.NewServer(h, web.ServerOptions{Logger: n.logger})
	s.derp.ConnState = web.ConnStateLogger(n.logger, n.reg)
	go func() { s.errc <- web.Serve(s.derp, ln, "derp") }()

	// A TLS relay also answers plain HTTP: ACME challenges, captive-portal
	// checks and redirects to HTTPS.
	if ts != nil && lns.port80 != nil {
		port80 := web.WithProbeHealth(web.Port80Handler(h, ts.acmeHTTP), ts.health)
		n.serveOther(s, port80, lns.port80, nameHTTPPort, 5*time.Minute, "plain HTTP listening")
	}
	if lns.metrics != nil {
		n.serveOther(s, web.MetricsHandler(n.reg), lns.metrics, "metrics", 0, "metrics listening")
	}
	if lns.debug != nil {
		// Long enough for a 30 s CPU profile or trace.
		n.serveOther(s, h.DebugHandler(), lns.debug, "debug", 2*time.Minute, "debug pages listening")
	}
	if ts != nil {
		renewCtx, stopRenew := context.WithCancel(context.Background())
		done.add(stopRenew)
		go ts.run(renewCtx)
		go func() {
			if err := ts.checkACMEBinding(renewCtx, c, n.logger); err != nil {
				s.errc <- err
			}
		}()
	}
	s.stopSTUN = n.serveSTUN(lns, s.errc)
	n.runMesh(done)

	n.mu.Lock()
	n.derpAddr = ln.Addr()
	if lns.stun != nil {
		n.stunAddr = lns.stun.LocalAddr()
	}
	n.mu.Unlock()
	attrs := []any{"addr", ln.Addr().String(), "tls", ts != nil, "key", n.relay.PublicKey().String(), "mesh", n.relay.HasMeshKey(), "derp", c.DERP}
	if lns.stun != nil {
		attrs = append(attrs, "stun", lns.stun.LocalAddr().String())
	}
	n.logger.Info("relay listening", attrs...)
	close(n.ready)
	return s
}

// serveOther serves h on ln beside DERP; writeTimeout 0 is the web
// package's default.
func (n *Node) serveOther(s *serving, h http.Handler, ln net.Listener, name string, writeTimeout time.Duration, msg string) {
	srv := web.NewServer(h, web.ServerOptions{WriteTimeout: writeTimeout, Logger: n.logger})
	s.others = append(s.others, srv)
	go func() { s.errc <- web.Serve(srv, ln, name) }()
	n.logger.Info(msg, "addr", ln.Addr().String())
}

// serveSTUN answers STUN until the returned stop is called.
func (n *Node) serveSTUN(lns *listeners, errc chan<- error) (stop func()) {
	if lns.stun == nil {
		return func() {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	stunDone := make(chan struct{})
	go func() {
		defer close(stunDone)
		if err := lns.stun.Serve(ctx); err != nil {
			errc <- fmt.Errorf("stun: %w", err)
		}
	}()
	return func() {
		cancel()
		<-stunDone
	}
}

// runMesh connects to the region's other nodes until the node stops.
func (n *Node) runMesh(done *cleanups) {
	if len(n.cfg.MeshWith) == 0 || !n.cfg.DERP {
		return
	}
	peers, _ := n.cfg.meshPeers()
	m, err := mesh.New(mesh.Options{Server: n.relay, PrivateKey: n.priv, MeshKey: n.meshKey, Peers: peers, Logger: n.logger})
	if err != nil {
		// The settings were checked: only a programming error lands here.
		n.logger.Error("mesh not started", "err", err)
		return
	}
	ctx, stop := context.WithCancel(context.Background())
	meshDone := make(chan struct{})
	go func() {
		defer close(meshDone)
		m.Run(ctx)
	}()
	done.add(func() {
		stop()
		<-meshDone
	})
}

// wait serves until ctx ends or a server fails, then stops taking
// connections, tells every client to come back soon and gives them the
// drain time to hear it.
func (n *Node) wait(ctx context.Context, s *serving) error {
	var runErr error
	select {
	case <-ctx.Done():
		n.logger.Info("shutting down: telling clients to reconnect", "drain", n.cfg.DrainTimeout)
	case runErr = <-s.errc:
		n.logger.Error("relay stopped", "err", runErr)
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), n.cfg.DrainTimeout)
	defer cancel()
	s.derp.Shutdown(shutCtx)
	n.relay.Shutdown(shutCtx, time.Second, 30*time.Second)
	s.cancelConns()
	for _, srv := range s.others {
		srv.Close()
	}
	s.stopSTUN()
	n.logger.Info("relay stopped")
	return runErr
}
