// Package node runs one DERP relay node: it is the composition root that
// `relayctl serve` calls, and that a Go program or test can start and stop
// without the command line. It loads the node's keys, sets up client
// admission, the relay server, TLS (ACME, manual or self-signed), the
// listeners (DERP, port 80, STUN, metrics, debug), the mesh with the other
// nodes of the region, and the live configuration (applying changes to
// live settings, writing the running-status file config show reads), and
// shuts them down in order.
//
// Its settings are declared once, in settings.go: the command line, the
// environment, config files, fleet policy, config show and the docs all
// derive from those declarations.
package node

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"

	"github.com/relayctl/relayctl/config"
	"github.com/relayctl/relayctl/internal/logging"
	"github.com/relayctl/relayctl/internal/metrics"
	"github.com/relayctl/relayctl/relay/key"
	"github.com/relayctl/relayctl/relay/server"
)

// Options are what a node needs besides its settings.
type Options struct {
	// Resolved is the resolution the Config came from (Resolve): errors
	// then quote a setting as its source holds it, and --dev replaces only
	// settings no source set. nil for a Config built in code.
	Resolved *config.Result
	// Sources, when set, are watched while the node runs: live settings
	// are applied, others reported as pending a restart (metrics, the
	// running-status file). nil: the settings stay as given.
	Sources *config.Sources
	// PolicyFetcher, when set, is the one reading Sources' policy URLs;
	// it logs to the node's log.
	PolicyFetcher *config.PolicyFetcher
	// Stderr gets the log and the self-signed certificate's DERP map;
	// nil is os.Stderr.
	Stderr io.Writer
	// Version is shown on the /debug/ page.
	Version string
}

// Node is one relay node. New checks its settings; Run serves.
type Node struct {
	cfg  Config
	opts Options
	src  sources

	reloads chan struct{}
	ready   chan struct{}

	mu       sync.Mutex
	derpAddr net.Addr
	stunAddr net.Addr

	// Set up by Run.
	logger    *slog.Logger
	level     *slog.LevelVar
	reg       *metrics.Registry
	relay     *server.Server
	admission *admitter
	priv      key.NodePrivate
	meshKey   key.MeshKey
}

// New completes cfg (--dev, the certificate directory, the node name) and
// checks it. A bad setting is a *ConfigError. Nothing is opened yet.
func New(cfg Config, opts Options) (*Node, error) {
	src := sources{opts.Resolved}
	if err := complete(&cfg, src); err != nil {
		return nil, err
	}
	if opts.Stderr == nil {
		opts.Stderr = os.Stderr
	}
	return &Node{cfg: cfg, opts: opts, src: src, reloads: make(chan struct{}, 1), ready: make(chan struct{})}, nil
}

// Config is the node's completed settings.
func (n *Node) Config() Config { return n.cfg }

// Reload re-reads the setting sources now (what SIGHUP does), if the
// node watches them.
func (n *Node) Reload() {
	select {
	case n.reloads <- struct{}{}:
	default:
	}
}

// Ready is closed once the node serves on every listener.
func (n *Node) Ready() <-chan struct{} { return n.ready }

// DERPAddr is the bound DERP listener's address (port 0 resolved); nil
// before Ready.
func (n *Node) DERPAddr() net.Addr {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.derpAddr
}

// STUNAddr is the bound STUN socket's address; nil before Ready or
// without STUN.
func (n *Node) STUNAddr() net.Addr {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.stunAddr
}

// Run serves until ctx ends (call it once), then tells clients to reconnect, drains for
// the drain timeout and stops; or until a listener fails. A bad setting
// found only now (a key file that is not a key, tailscaled that does not
// answer, a CA that requires account binding) is a *ConfigError.
func (n *Node) Run(ctx context.Context) error {
	var done cleanups
	defer done.run()
	if err := n.setup(ctx, &done); err != nil {
		return err
	}
	h, err := n.newWeb(&done)
	if err != nil {
		return err
	}
	// Every port is bound before anything is printed (the self-signed
	// DERP map) or served.
	lns, err := openListeners(ctx, &n.cfg, n.logger, n.reg)
	if err != nil {
		return err
	}
	ts, err := setupTLS(&n.cfg, n.relay.PublicKey(), n.logger, n.reg, lns, n.opts.Stderr)
	if err != nil {
		lns.close()
		return err
	}
	if ts != nil {
		done.add(ts.close)
	}
	s := n.serve(h, lns, ts, &done)
	return n.wait(ctx, s)
}

// setup makes the log, the keys, the metrics, the relay server with its
// admission, and the live configuration.
func (n *Node) setup(ctx context.Context, done *cleanups) error {
	logger, level, err := logging.New(n.opts.Stderr, n.cfg.LogFormat, n.cfg.LogLevel)
	if err != nil {
		return &ConfigError{err}
	}
	// Clients drive most of a relay's log lines (failed handshakes, odd
	// requests, rejections): each message gets a budget, the rest a summary.
	limiter := logging.RateLimit(logger.Handler(), logging.DefaultLimits)
	n.logger, n.level, n.reg = slog.New(limiter), level, metrics.NewRegistry()
	n.reg.CounterFunc("relayctl_log_lines_suppressed", "log lines held back by the per-message rate limit (each interval ends with a summary line)",
		func() float64 { return float64(limiter.Suppressed()) })
	warnSecretInArgv(&n.cfg, n.src, n.logger)
	if n.opts.Resolved != nil {
		for _, w := range n.opts.Resolved.Warnings {
			n.logger.Warn(w)
		}
	}
	if n.opts.PolicyFetcher != nil {
		n.opts.PolicyFetcher.SetLogger(n.logger)
	}
	keyPath, err := n.loadKeys(done)
	if err != nil {
		return err
	}
	if n.admission, err = newAdmitter(ctx, &n.cfg, n.logger, n.reg); err != nil {
		return err
	}
	n.relay, err = server.New(server.Options{
		Admit:              n.admission.admit,
		PerClientRateLimit: n.cfg.PerClientRate,
		PerClientRateBurst: n.cfg.PerClientBurst,
		PrivateKey:         n.priv,
		MeshKey:            n.meshKey,
		Logger:             n.logger,
		Metrics:            n.reg,
		WriteTimeout:       n.cfg.TCPWriteTimeout,
	})
	if err != nil {
		return err
	}
	n.reg.GaugeVec("relayctl_node_info", "this node's place in the fleet", "region_id", "node_name").
		With(strconv.Itoa(n.cfg.RegionID), n.cfg.NodeName).Set(1)
	return n.watchConfig(ctx, keyPath, done)
}

// loadKeys reads the mesh key, then reads (or creates) the node key: the
// mesh key first, so that a start refused for it creates no key file.
func (n *Node) loadKeys(done *cleanups) (keyPath string, err error) {
	meshKey, from, err := n.cfg.meshKey()
	if err != nil {
		return "", err
	}
	keyPath, cleanup, err := n.cfg.KeyPath()
	if err != nil {
		return "", err
	}
	done.add(cleanup)
	priv, created, err := nodeKey(keyPath)
	if err != nil {
		return "", err
	}
	if created {
		n.logger.Info("created a new node key", "file", keyPath)
	}
	if from != "" {
		n.logger.Info("mesh key loaded", "from", from)
	}
	n.priv, n.meshKey = priv, meshKey
	return keyPath, nil
}

// watchConfig follows the setting sources, when there are any to follow,
// and re-reads them on Reload.
func (n *Node) watchConfig(ctx context.Context, keyPath string, done *cleanups) error {
	if n.opts.Sources == nil {
		return nil
	}
	live, err := n.startLiveConfig(ctx, *n.opts.Sources, keyPath)
	if err != nil {
		return err
	}
	done.add(live.remove)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-n.reloads:
				n.logger.Info("re-reading configuration")
				live.watcher.Reload()
			}
		}
	}()
	return nil
}

// cleanups run in reverse order of adding, as defers do.
type cleanups []func()

func (c *cleanups) add(f func()) { *c = append(*c, f) }

func (c *cleanups) run() {
	for i := len(*c) - 1; i >= 0; i-- {
		(*c)[i]()
	}
}
