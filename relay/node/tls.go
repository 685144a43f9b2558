package node

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net/http"
	"net/netip"

	"github.com/relayctl/relayctl/internal/derpmap"
	"github.com/relayctl/relayctl/internal/metrics"
	"github.com/relayctl/relayctl/relay/acmecert"
	"github.com/relayctl/relayctl/relay/key"
	"github.com/relayctl/relayctl/relay/tlsserve"
)

// tlsSetup is what a TLS mode adds to the node.
type tlsSetup struct {
	config *tls.Config
	// acmeHTTP wraps the port-80 handler with ACME HTTP-01 responses.
	acmeHTTP func(fallback http.Handler) http.Handler
	// run does background work (certificate renewal) until ctx ends.
	run   func(ctx context.Context)
	close func()
	// health is nil while the node has a certificate to offer, else why
	// not (ACME); nil for modes that cannot lose it.
	health func() error
	// requiresEAB asks the ACME CA whether it needs External Account
	// Binding, through the client the certificate requests use; nil
	// outside ACME.
	requiresEAB func(ctx context.Context) (bool, error)
}

// setupTLS builds the TLS configuration for --certmode; nil for none.
// notices gets the self-signed certificate's DERP map.
func setupTLS(c *Config, serverKey key.NodePublic, logger *slog.Logger, reg *metrics.Registry, lns *listeners, notices io.Writer) (*tlsSetup, error) {
	var get tlsserve.GetCertificateFunc
	var protos []string
	ts := &tlsSetup{run: func(context.Context) {}, close: func() {}}
	switch c.CertMode {
	case "none":
		return nil, nil
	case "manual":
		m, err := tlsserve.NewManualWith(tlsserve.ManualOptions{
			CertDir:  c.CertDir,
			Hostname: c.Hostname,
			Logger:   logger,
			OnSelfSigned: func(snippet []byte) {
				printSelfSignedNotice(notices, c.Hostname, snippet)
			},
			Node: derpMapNode(c, lns),
		})
		if err != nil {
			return nil, configErrorf("--certmode manual: %v", err)
		}
		get, ts.close = m.GetCertificate, func() { m.Close() }
	case "letsencrypt":
		var err error
		if get, err = setupACME(c, ts, logger, reg, lns); err != nil {
			return nil, err
		}
		if !c.ACMEIPCerts {
			protos = append(protos, "acme-tls/1")
		}
	}
	withMeta, err := tlsserve.WithMetaCert(get, serverKey)
	if err != nil {
		return nil, err
	}
	ts.config = tlsserve.ServerConfig(withMeta, protos...)
	return ts, nil
}

// setupACME fills ts for --certmode letsencrypt: a certificate for the
// host name, or with --acme-ip-certs for the IP.
func setupACME(c *Config, ts *tlsSetup, logger *slog.Logger, reg *metrics.Registry, lns *listeners) (tlsserve.GetCertificateFunc, error) {
	eab, err := c.eab()
	if err != nil {
		return nil, err
	}
	acmeOpts := acmecert.Options{DirectoryURL: c.ACMEDirectoryURL, Email: c.ACMEEmail, EAB: eab, CacheDir: c.CertDir, Logger: logger}
	if !c.ACMEIPCerts {
		m := acmecert.NewHost(c.Hostname, acmeOpts, reg)
		ts.acmeHTTP, ts.run, ts.health, ts.requiresEAB = m.HTTPHandler, m.Run, m.Health().Err, m.RequiresEAB
		return m.GetCertificate, nil
	}
	ip := c.PublicIP
	if ip == "" {
		ip = c.Hostname
	}
	m, err := acmecert.NewIPManager(netip.MustParseAddr(ip), acmeOpts, reg)
	if err != nil {
		return nil, configErrorf("--acme-ip-certs: %v", err)
	}
	ts.acmeHTTP, ts.run, ts.health, ts.requiresEAB = m.HTTPHandler, m.Run, m.Health().Err, m.RequiresEAB
	node := derpMapNode(c, lns)
	node.HostName, node.IP = c.Hostname, netip.MustParseAddr(ip)
	snippet, err := derpmap.RenderNode(node.Node())
	if err != nil {
		return nil, err
	}
	logger.Info("ACME IP certificate: put this node in the DERP map (no CertName needed)", "node", string(snippet))
	return m.GetCertificate, nil
}

// checkACMEBinding ends the node with a *ConfigError when the ACME CA
// requires External Account Binding (Google Trust Services, ZeroSSL) and
// none is set: without it every certificate request would fail. It runs
// beside the start, not before it, and reads the directory through the
// certificate manager's client, which keeps it: the CA's directory is
// fetched once, and a CA that cannot be reached delays nothing (the
// manager logs each failed attempt).
func (ts *tlsSetup) checkACMEBinding(ctx context.Context, c *Config, logger *slog.Logger) error {
	if ts == nil || ts.requiresEAB == nil || c.ACMEEABKID != "" {
		return nil
	}
	required, err := ts.requiresEAB(ctx)
	if err != nil {
		if ctx.Err() == nil {
			logger.Warn("cannot read the ACME directory to check for External Account Binding; the relay still asks the CA for a certificate, and logs each failed attempt", "err", err)
		}
		return nil
	}
	if required {
		return configErrorf("the ACME CA at %s requires External Account Binding: set --acme-eab-kid and --acme-eab-key (the CA's account page gives both)", c.ACMEDirectoryURL)
	}
	return nil
}

// derpMapNode describes this node for the DERP map snippets it prints:
// its region, its name, and the ports it is bound to, as clients must
// dial them.
func derpMapNode(c *Config, lns *listeners) derpmap.SingleNode {
	return derpmap.SingleNode{
		RegionID: c.RegionID,
		NodeName: c.NodeName,
		DERPPort: lns.derpPort(),
		STUNPort: lns.stunPort(),
	}
}
