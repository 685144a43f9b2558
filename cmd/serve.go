package cmd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/time/rate"

	"github.com/relayctl/relayctl/config"
	"github.com/relayctl/relayctl/internal/listen"
	"github.com/relayctl/relayctl/internal/logging"
	"github.com/relayctl/relayctl/internal/metrics"
	"github.com/relayctl/relayctl/internal/statedir"
	"github.com/relayctl/relayctl/relay/acmecert"
	"github.com/relayctl/relayctl/relay/key"
	"github.com/relayctl/relayctl/relay/mesh"
	"github.com/relayctl/relayctl/relay/server"
	"github.com/relayctl/relayctl/relay/web"
)

// serveOptions are the settings of one relay node.
type serveOptions struct {
	Addr              string
	HTTPPort          int
	STUN              bool
	STUNPort          int
	Hostname          string
	CertMode          string
	CertDir           string
	KeyFile           string
	MeshPSKFile       string
	MeshWith          []string
	Dev               bool
	MetricsAddr       string
	DebugAddr         string
	TCPWriteTimeout   time.Duration
	TCPKeepAlive      time.Duration
	TCPUserTimeout    time.Duration
	BootstrapDNSNames []string
	Home              string
	AcceptConnLimit   float64
	AcceptConnBurst   int
	DrainTimeout      time.Duration
	PerClientRate     int64
	PerClientBurst    int
	MaxConns          int
	MaxConnsPerIP     int
	TrustedProxies    []string
	RegionID          int
	NodeName          string
	ACMEDirectoryURL  string
	ACMEEmail         string
	ACMEIPCerts       bool
	PublicIP          string
	LogFormat         string
	LogLevel          string
	ConfigFile        string
	Policies          []string

	Admission admissionOptions
	Derper    derperCompatOptions

	sources       config.Sources
	resolved      *config.Result
	policyFetcher *config.PolicyFetcher
	streams       IOStreams
}

const (
	devAddr     = "127.0.0.1:3340"
	devSTUNAddr = "127.0.0.1"
)

func newServeCmd(streams IOStreams, runF func(*serveOptions) error) *cobra.Command {
	o := &serveOptions{streams: streams}
	c := &cobra.Command{
		Use:   "serve",
		Short: "Run a DERP relay node (DERP over HTTP(S) and WebSocket, STUN, metrics)",
		Long: `Run one DERP relay node: DERP over an HTTP upgrade or WebSocket on --addr, STUN on
UDP --stun-port, the HTTP endpoints Tailscale clients use, and loopback-only /debug/
pages with Prometheus metrics.

Every flag can also be set in the config file (same name as key), in the
environment as RELAYCTL_<FLAG> (upper case, dashes as underscores), or by fleet
policy (--policy). Precedence, highest first: fleet policy (enforced) > flags >
environment > config file > defaults. 'relayctl config show' prints the result.
A running relay re-reads the file and policy on change or SIGHUP: log-level and the
per-client rate limit apply at once, the access policy too; other settings are
reported as pending until a restart.`,
		Example: `  # try it locally: plain HTTP on 127.0.0.1:3340, STUN on 127.0.0.1:3478
  relayctl serve --dev

  # behind a TLS terminator on the same host
  relayctl serve --certmode none --addr 127.0.0.1:8080 --hostname derp.example.com`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.complete(cmd); err != nil {
				return err
			}
			if runF != nil {
				return runF(o)
			}
			return runServe(cmd.Context(), o)
		},
	}
	o.addFlags(c.Flags())
	return c
}

// addFlags registers serve's settings on f. config show and validate take
// the same flags.
func (o *serveOptions) addFlags(f *pflag.FlagSet) {
	f.StringVar(&o.Addr, "addr", ":443", "TCP listen address for DERP (HTTPS, or HTTP with --certmode none)")
	f.IntVar(&o.HTTPPort, "http-port", 80, "plain-HTTP port for ACME challenges and redirects to HTTPS; -1 disables")
	f.BoolVar(&o.STUN, "stun", true, "run the STUN server")
	f.IntVar(&o.STUNPort, "stun-port", 3478, "UDP STUN port (on the IP of --addr)")
	f.StringVar(&o.Hostname, "hostname", "", "the node's public name or IP; required for TLS modes")
	f.StringVar(&o.CertMode, "certmode", "letsencrypt", "letsencrypt, manual (certs from --certdir) or none (plain HTTP)")
	f.StringVar(&o.CertDir, "certdir", "", "certificate directory (default <state>/certs)")
	f.StringVar(&o.KeyFile, "key-file", "", "the node's private key file, created on first start (default <state>/relay-key.json)")
	f.StringVar(&o.MeshPSKFile, "mesh-psk-file", "", "file holding the region's mesh key (64 hex characters); without it, derper's TAILSCALE_DERPER_MESH_KEY is read")
	f.StringSliceVar(&o.MeshWith, "mesh-with", nil, "other nodes of this region: host, host:port, host/dialaddr or a URL (this node's own entry is skipped)")
	f.BoolVar(&o.Dev, "dev", false, "development mode: plain HTTP on "+devAddr+", STUN on "+devSTUNAddr+":3478, key in a temporary directory")
	f.StringVar(&o.MetricsAddr, "metrics-addr", "", "a separate listener for Prometheus /metrics, e.g. 127.0.0.1:9090")
	f.StringVar(&o.DebugAddr, "debug-addr", "", "serve /debug/ on this loopback address (e.g. 127.0.0.1:8081) instead of --addr; use it when a TLS terminator in TCP mode on this host makes every client look like loopback on --addr")
	f.DurationVar(&o.TCPWriteTimeout, "tcp-write-timeout", server.DefaultWriteTimeout, "per-write deadline for clients (mesh peers get 30s); 0 disables")
	f.DurationVar(&o.TCPKeepAlive, "tcp-keepalive-time", 10*time.Minute, "TCP keepalive period")
	f.DurationVar(&o.TCPUserTimeout, "tcp-user-timeout", 15*time.Second, "TCP_USER_TIMEOUT: how long unacknowledged data may wait before the connection is dropped")
	f.StringSliceVar(&o.BootstrapDNSNames, "bootstrap-dns-names", nil, "names answered by /bootstrap-dns")
	f.StringVar(&o.Home, "home", "", `home page: empty for the built-in page, "blank", or a URL to redirect to`)
	f.Float64Var(&o.AcceptConnLimit, "accept-connection-limit", math.Inf(1), "new connections accepted per second; extra ones are closed and accepting goes on")
	f.IntVar(&o.AcceptConnBurst, "accept-connection-burst", math.MaxInt, "burst for --accept-connection-limit")
	f.StringVar(&o.ACMEDirectoryURL, "acme-directory-url", acmecert.LetsEncryptURL, "ACME directory of the CA for --certmode letsencrypt (any RFC 8555 CA: ZeroSSL, step-ca, a private CA)")
	f.StringVar(&o.ACMEEmail, "acme-email", "", "contact address for the ACME account")
	f.BoolVar(&o.ACMEIPCerts, "acme-ip-certs", false, "get ACME certificates for an IP --hostname (RFC 8738), e.g. Let's Encrypt's short-lived IP certificates")
	f.StringVar(&o.PublicIP, "public-ip", "", "with --acme-ip-certs: the public IP to certify when it differs from --hostname's (behind NAT)")
	f.Int64Var(&o.PerClientRate, "per-client-rate-limit", 0, "bytes per second each client may send (mesh peers exempt); 0 = no limit. Over it the relay reads more slowly; nothing is dropped")
	f.IntVar(&o.PerClientBurst, "per-client-rate-burst", server.MinRateBurst, "burst for --per-client-rate-limit, in bytes (at least one largest frame, 65568)")
	f.IntVar(&o.MaxConns, "max-conns", 0, "cap on concurrent connections; over it new connections are closed and accepting goes on (0 = no cap)")
	f.IntVar(&o.MaxConnsPerIP, "max-conns-per-ip", 0, "cap on concurrent connections from one IP (trusted proxies exempt; 0 = no cap)")
	f.StringSliceVar(&o.TrustedProxies, "trusted-proxy", nil, "CIDRs or IPs of reverse proxies whose X-Forwarded-For / X-Real-IP name the client")
	f.IntVar(&o.RegionID, "region-id", 0, "this node's DERP region ID (metrics labels, fleet policy scope)")
	f.StringVar(&o.NodeName, "node-name", "", "this node's name in the DERP map (default: the host name)")
	f.DurationVar(&o.DrainTimeout, "drain-timeout", 5*time.Second, "on SIGTERM/SIGINT, how long clients get to receive the Restarting notice and queued packets")
	f.StringVar(&o.LogFormat, "log-format", "text", "log format: text or json")
	f.StringVar(&o.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
	o.Admission.addFlags(f)
	o.Derper.addFlags(f)
	f.StringVar(&o.ConfigFile, "config", "", "config file (YAML, TOML or JSON; default <config>/relayctl.yaml)")
	f.StringSliceVar(&o.Policies, "policy", nil, "fleet policy sources: a directory of policy files, a file, or an https:// URL (repeatable; default "+config.DefaultPolicyDir+" when it exists)")
}

// complete merges config file and environment into the flags, applies
// --dev and validates.
func (o *serveOptions) complete(cmd *cobra.Command) error {
	if err := o.resolveSettings(cmd.Flags()); err != nil {
		return err
	}
	if o.Dev {
		if o.sourceOf("addr") == config.SourceDefault {
			o.Addr = devAddr
		}
		if o.sourceOf("certmode") == config.SourceDefault {
			o.CertMode = "none"
		}
	}
	if err := o.validateTLS(); err != nil {
		return err
	}
	if err := o.validateSettings(); err != nil {
		return err
	}
	if o.NodeName == "" {
		o.NodeName, _ = os.Hostname()
	}
	if err := o.Admission.validate(); err != nil {
		return err
	}
	if err := o.Derper.validate(); err != nil {
		return err
	}
	if o.DebugAddr != "" {
		host, _, err := net.SplitHostPort(o.DebugAddr)
		if ip, perr := netip.ParseAddr(host); err != nil || (host != "localhost" && (perr != nil || !ip.IsLoopback())) {
			return usageErrorf("--debug-addr %q: want a loopback address such as 127.0.0.1:8081 (/debug/ answers loopback clients only)", o.DebugAddr)
		}
	}
	return nil
}

// stunAddr is the STUN listen address: the IP of --addr, --stun-port.
func (o *serveOptions) stunAddr() string {
	host, _, _ := net.SplitHostPort(o.Addr)
	return net.JoinHostPort(host, strconv.Itoa(o.STUNPort))
}

func (o *serveOptions) keyFile() (path string, cleanup func(), err error) {
	if o.KeyFile != "" {
		return o.KeyFile, func() {}, nil
	}
	if o.Dev {
		dir, err := os.MkdirTemp("", "relayctl-dev-")
		if err != nil {
			return "", nil, err
		}
		return filepath.Join(dir, "relay-key.json"), func() { os.RemoveAll(dir) }, nil
	}
	dir, err := statedir.State()
	if err != nil {
		return "", nil, usageErrorf("cannot find a state directory for the key file (set --key-file): %v", err)
	}
	return filepath.Join(dir, "relay-key.json"), func() {}, nil
}

// loadMeshKey reads --mesh-psk-file for serve, probe and prune; "" is no
// key.
func loadMeshKey(path string) (key.MeshKey, error) {
	if path == "" {
		return key.MeshKey{}, nil
	}
	k, err := key.ReadMeshKeyFile(path)
	if errors.Is(err, key.ErrInvalidMeshKey) {
		return key.MeshKey{}, usageErrorf("--mesh-psk-file: %v (make one with: relayctl keygen > %s)", err, path)
	}
	if err != nil {
		return key.MeshKey{}, usageErrorf("--mesh-psk-file: %v", err)
	}
	return k, nil
}

// runServe runs the relay until ctx is cancelled or SIGINT/SIGTERM.
func runServe(ctx context.Context, o *serveOptions) error {
	logger, level, err := logging.New(o.streams.ErrOut, o.LogFormat, o.LogLevel)
	if err != nil {
		return &UsageError{err}
	}
	// Clients drive most of a relay's log lines (failed handshakes, odd
	// requests, rejections): each message gets a budget, the rest a summary.
	logLimiter := logging.RateLimit(logger.Handler(), logging.DefaultLimits)
	logger = slog.New(logLimiter)
	o.warnSecretInArgv(logger)
	o.logWarnings(logger)
	if o.policyFetcher != nil {
		o.policyFetcher.SetLogger(logger)
	}
	keyPath, cleanup, err := o.keyFile()
	if err != nil {
		return err
	}
	defer cleanup()
	priv, created, err := key.LoadOrCreateNodeFile(keyPath)
	if err != nil {
		return &UsageError{fmt.Errorf("--key-file: %w", err)}
	}
	if created {
		logger.Info("created a new node key", "file", keyPath)
	}
	meshKey, meshKeyFrom, err := loadMeshKeyOrEnv(o.MeshPSKFile)
	if err != nil {
		return err
	}
	if meshKeyFrom != "" {
		logger.Info("mesh key loaded", "from", meshKeyFrom)
	}

	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	reg := metrics.NewRegistry()
	reg.CounterFunc("relayctl_log_lines_suppressed", "log lines held back by the per-message rate limit (each interval ends with a summary line)",
		func() float64 { return float64(logLimiter.Suppressed()) })
	writeTimeout := o.TCPWriteTimeout
	if writeTimeout == 0 {
		writeTimeout = -1 // the flag's 0 means "no deadline"
	}
	admit, err := o.Admission.admitFunc(ctx, logger, reg)
	if err != nil {
		return err
	}
	relay, err := server.New(server.Options{
		Admit:              admit,
		PerClientRateLimit: o.PerClientRate,
		PerClientRateBurst: o.PerClientBurst,
		PrivateKey:         priv,
		MeshKey:            meshKey,
		Logger:             logger,
		Metrics:            reg,
		WriteTimeout:       writeTimeout,
	})
	if err != nil {
		return err
	}

	trusted, _ := o.trustedProxies()
	reg.GaugeVec("relayctl_node_info", "this node's place in the fleet", "region_id", "node_name").
		With(strconv.Itoa(o.RegionID), o.NodeName).Set(1)
	live, err := startLiveConfig(ctx, o, keyPath, logger, reg, relay, level)
	if err != nil {
		return &UsageError{err}
	}
	defer live.remove()

	connCtx, cancelConns := context.WithCancel(context.Background())
	defer cancelConns()
	started := time.Now()
	handler, err := web.NewHandler(web.Options{
		DERP:              o.derpHandler(connCtx, relay, logger, trusted),
		Home:              o.Home,
		Hostname:          o.Hostname,
		BootstrapDNSNames: o.BootstrapDNSNames,
		Metrics:           reg,
		Logger:            logger,
		DebugElsewhere:    o.DebugAddr != "",
		DebugInfo: func() []web.KeyValue {
			return []web.KeyValue{
				{Key: "Uptime", Value: time.Since(started).Round(time.Second).String()},
				{Key: "Version", Value: readBuildVersion().String()},
				{Key: "Hostname", Value: o.Hostname},
				{Key: "Server key", Value: relay.PublicKey().String()},
				{Key: "Mesh key", Value: strconv.FormatBool(relay.HasMeshKey())},
				{Key: "Connections", Value: strconv.Itoa(relay.ConnCount())},
			}
		},
		UnpublishedBootstrapDNSNames: o.Derper.UnpublishedBootstrapDNSNames,
		TrustedProxies:               trusted,
	})
	if err != nil {
		return &UsageError{err}
	}
	defer handler.Close()

	// Every port is bound before anything is printed (the self-signed
	// DERP map) or served.
	lns, err := o.openListeners(ctx, logger, reg)
	if err != nil {
		return err
	}
	serving := false
	defer func() {
		if !serving {
			lns.close()
		}
	}()
	if err := o.checkACMEBinding(ctx, logger); err != nil {
		return err
	}
	tlsSet, err := o.setupTLS(relay.PublicKey(), logger, reg, lns)
	if err != nil {
		return err
	}
	if tlsSet != nil {
		defer tlsSet.close()
	}

	ln := listen.RateLimited(lns.derp, rate.Limit(o.AcceptConnLimit), o.AcceptConnBurst, reg)
	ln = listen.Capped(ln, listen.Caps{Max: o.MaxConns, MaxPerIP: o.MaxConnsPerIP, Exempt: trusted.Contains}, reg)
	if tlsSet != nil {
		ln = tls.NewListener(ln, tlsSet.config)
	}
	httpSrv := web.NewServer(handler, web.ServerOptions{Logger: logger})
	httpSrv.ConnState = web.ConnStateLogger(logger, reg)

	serving = true
	errc := make(chan error, 5) // one per listener goroutine: derp, port 80, STUN, metrics, debug
	go func() { errc <- serveHTTP(httpSrv, ln, "derp") }()

	// A TLS relay also answers plain HTTP: ACME challenges, captive-portal
	// checks and redirects to HTTPS.
	var port80Srv *http.Server
	if pln := lns.port80; tlsSet != nil && pln != nil {
		port80Srv = web.NewServer(web.WithProbeHealth(web.Port80Handler(handler, tlsSet.acmeHTTP), tlsSet.health), web.ServerOptions{WriteTimeout: 5 * time.Minute, Logger: logger})
		go func() { errc <- serveHTTP(port80Srv, pln, "http-port") }()
		logger.Info("plain HTTP listening", "addr", pln.Addr().String())
	}
	renewCtx, stopRenew := context.WithCancel(context.Background())
	defer stopRenew()
	if tlsSet != nil {
		go tlsSet.run(renewCtx)
	}

	stun := lns.stun
	stunCtx, stopSTUN := context.WithCancel(context.Background())
	defer stopSTUN()
	stunDone := make(chan struct{})
	if stun != nil {
		go func() {
			defer close(stunDone)
			if err := stun.Serve(stunCtx); err != nil {
				errc <- fmt.Errorf("stun: %w", err)
			}
		}()
	} else {
		close(stunDone)
	}

	var metricsSrv *http.Server
	if mln := lns.metrics; mln != nil {
		metricsSrv = web.NewServer(web.MetricsHandler(reg), web.ServerOptions{Logger: logger})
		go func() { errc <- serveHTTP(metricsSrv, mln, "metrics") }()
		logger.Info("metrics listening", "addr", mln.Addr().String())
	}

	var debugSrv *http.Server
	if o.DebugAddr != "" {
		dln, err := net.Listen("tcp", o.DebugAddr)
		if err != nil {
			httpSrv.Close()
			return usageErrorf("--debug-addr: %v", err)
		}
		// Long enough for a 30 s CPU profile or trace.
		debugSrv = web.NewServer(handler.DebugHandler(), web.ServerOptions{WriteTimeout: 2 * time.Minute, Logger: logger})
		go func() { errc <- serveHTTP(debugSrv, dln, "debug") }()
		logger.Info("debug pages listening", "addr", dln.Addr().String())
	}

	if len(o.MeshWith) > 0 && o.Derper.DERP {
		peers, _ := o.meshPeers()
		m, err := mesh.New(mesh.Options{Server: relay, PrivateKey: priv, MeshKey: meshKey, Peers: peers, Logger: logger})
		if err != nil {
			return err
		}
		meshDone := make(chan struct{})
		meshCtx, stopMesh := context.WithCancel(context.Background())
		go func() {
			defer close(meshDone)
			m.Run(meshCtx)
		}()
		defer func() {
			stopMesh()
			<-meshDone
		}()
	}

	attrs := []any{"addr", ln.Addr().String(), "tls", tlsSet != nil, "key", relay.PublicKey().String(), "mesh", relay.HasMeshKey(), "derp", o.Derper.DERP}
	if stun != nil {
		attrs = append(attrs, "stun", stun.LocalAddr().String())
	}
	logger.Info("relay listening", attrs...)

	var runErr error
	select {
	case <-ctx.Done():
		logger.Info("shutting down: telling clients to reconnect", "drain", o.DrainTimeout)
	case runErr = <-errc:
		logger.Error("relay stopped", "err", runErr)
	}

	// Stop taking connections, then tell every client to come back soon
	// and give them the drain time to hear it.
	shutCtx, cancel := context.WithTimeout(context.Background(), o.DrainTimeout)
	defer cancel()
	httpSrv.Shutdown(shutCtx)
	relay.Shutdown(shutCtx, time.Second, 30*time.Second)
	cancelConns()
	if metricsSrv != nil {
		metricsSrv.Close()
	}
	if debugSrv != nil {
		debugSrv.Close()
	}
	if port80Srv != nil {
		port80Srv.Close()
	}
	stopRenew()
	stopSTUN()
	<-stunDone
	logger.Info("relay stopped")
	return runErr
}

func serveHTTP(srv *http.Server, ln net.Listener, name string) error {
	err := srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) || listen.ErrClosed(err) {
		return nil
	}
	return fmt.Errorf("%s listener: %w", name, err)
}

// meshPeers parses --mesh-with, leaving out this node's own entry.
func (o *serveOptions) meshPeers() ([]mesh.Peer, error) {
	var self []string
	if _, port, err := net.SplitHostPort(o.Addr); err == nil && o.Hostname != "" {
		self = append(self, net.JoinHostPort(o.Hostname, port))
	}
	return mesh.ParsePeers(o.MeshWith, o.Hostname, self...)
}

// trustedProxies parses --trusted-proxy: CIDRs, or single IPs.
func (o *serveOptions) trustedProxies() (web.TrustedProxies, error) {
	var out web.TrustedProxies
	for _, s := range o.TrustedProxies {
		s = strings.TrimSpace(s)
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		ip, err := netip.ParseAddr(s)
		if err != nil {
			return nil, usageErrorf("--trusted-proxy %q: want a CIDR (10.0.0.0/8) or an IP", s)
		}
		out = append(out, netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen()))
	}
	return out, nil
}
