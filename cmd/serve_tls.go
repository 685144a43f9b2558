package cmd

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"strconv"

	"github.com/relayctl/relayctl/internal/derpmap"
	"github.com/relayctl/relayctl/internal/keyfile"
	"github.com/relayctl/relayctl/internal/metrics"
	"github.com/relayctl/relayctl/internal/statedir"
	"github.com/relayctl/relayctl/relay/acmecert"
	"github.com/relayctl/relayctl/relay/key"
	"github.com/relayctl/relayctl/relay/tlsserve"
)

// validateTLS checks the certificate flags for the chosen --certmode.
func (o *serveOptions) validateTLS() error {
	switch o.CertMode {
	case "none":
		return nil
	case "letsencrypt", "manual":
	default:
		return o.badSetting("certmode", "want letsencrypt, manual or none")
	}
	if o.Hostname == "" {
		return usageErrorf("--hostname is required with %s: the name or IP clients connect to", o.spelled("certmode"))
	}
	hostIP, hostErr := netip.ParseAddr(o.Hostname)
	if hostErr == nil {
		if why := unservableIP(hostIP.Unmap()); why != "" {
			return usageErrorf("%s: %s; give the address clients reach the relay on", o.spelled("hostname"), why)
		}
	}
	if o.CertMode == "letsencrypt" {
		if o.ACMEIPCerts {
			if o.PublicIP != "" {
				if _, err := netip.ParseAddr(o.PublicIP); err != nil {
					return o.badSetting("public-ip", "not an IP address")
				}
			} else if hostErr != nil {
				return usageErrorf("%s needs an IP --hostname or --public-ip; %s is a name", o.spelled("acme-ip-certs"), o.spelled("hostname"))
			}
		} else if hostErr == nil {
			return usageErrorf("%s is an IP address: add --acme-ip-certs for an ACME IP certificate, or use --certmode manual (self-signed; see relayctl certgen)", o.spelled("hostname"))
		}
	} else if o.ACMEIPCerts {
		return usageErrorf("%s needs --certmode letsencrypt, not %s", o.spelled("acme-ip-certs"), o.spelled("certmode"))
	}
	if o.CertDir == "" {
		dir, err := statedir.State()
		if err != nil {
			return usageErrorf("cannot find a state directory for certificates (set --certdir): %v", err)
		}
		o.CertDir = filepath.Join(dir, "certs")
	}
	// Whoever can write there can swap the certificate and its key.
	if err := keyfile.CheckDir(o.CertDir); err != nil {
		return usageErrorf("--certdir: %v", err)
	}
	return nil
}

// tlsSetup is what a TLS mode adds to the relay.
type tlsSetup struct {
	config *tls.Config
	// acmeHTTP wraps the port-80 handler with ACME HTTP-01 responses.
	acmeHTTP func(fallback http.Handler) http.Handler
	// run does background work (certificate renewal) until ctx ends.
	run   func(ctx context.Context)
	close func()
	// health is nil while the relay has a certificate to offer, else why
	// not (ACME); nil for modes that cannot lose it.
	health func() error
}

// setupTLS builds the TLS configuration for --certmode; nil for none.
func (o *serveOptions) setupTLS(serverKey key.NodePublic, logger *slog.Logger, reg *metrics.Registry, lns *serveListeners) (*tlsSetup, error) {
	var (
		get    tlsserve.GetCertificateFunc
		protos []string
		ts     = &tlsSetup{run: func(context.Context) {}, close: func() {}}
	)
	switch o.CertMode {
	case "none":
		return nil, nil
	case "manual":
		m, err := tlsserve.NewManualWith(tlsserve.ManualOptions{
			CertDir:  o.CertDir,
			Hostname: o.Hostname,
			Logger:   logger,
			OnSelfSigned: func(snippet []byte) {
				printSelfSignedNotice(o.streams.ErrOut, o.Hostname, snippet)
			},
			Node: o.derpMapNode(lns),
		})
		if err != nil {
			return nil, usageErrorf("--certmode manual: %v", err)
		}
		get, ts.close = m.GetCertificate, func() { m.Close() }
	case "letsencrypt":
		eab, err := o.Derper.eab()
		if err != nil {
			return nil, err
		}
		acmeOpts := acmecert.Options{DirectoryURL: o.ACMEDirectoryURL, Email: o.ACMEEmail, EAB: eab, CacheDir: o.CertDir, Logger: logger}
		if o.ACMEIPCerts {
			ip := o.PublicIP
			if ip == "" {
				ip = o.Hostname
			}
			m, err := acmecert.NewIPManager(netip.MustParseAddr(ip), acmeOpts, reg)
			if err != nil {
				return nil, usageErrorf("--acme-ip-certs: %v", err)
			}
			get, ts.acmeHTTP, ts.run, ts.health = m.GetCertificate, m.HTTPHandler, m.Run, m.Health().Err
			node := o.derpMapNode(lns)
			node.HostName, node.IP = o.Hostname, netip.MustParseAddr(ip)
			snippet, err := derpmap.RenderNode(node.Node())
			if err != nil {
				return nil, err
			}
			logger.Info("ACME IP certificate: put this node in the DERP map (no CertName needed)", "node", string(snippet))
		} else {
			m := acmecert.NewHost(o.Hostname, acmeOpts, reg)
			get, ts.acmeHTTP, ts.run, ts.health = m.GetCertificate, m.HTTPHandler, m.Run, m.Health().Err
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

// port80Addr is the plain-HTTP listener of a TLS relay: --http-port on
// the IP of --addr.
func (o *serveOptions) port80Addr() string {
	host, _, _ := net.SplitHostPort(o.Addr)
	return net.JoinHostPort(host, strconv.Itoa(o.HTTPPort))
}

// derpMapNode describes this node for the DERP map snippets serve prints:
// its region, its name, and the ports it is bound to, as clients must
// dial them.
func (o *serveOptions) derpMapNode(lns *serveListeners) derpmap.SingleNode {
	return derpmap.SingleNode{
		RegionID: o.RegionID,
		NodeName: o.NodeName,
		DERPPort: lns.derpPort(),
		STUNPort: lns.stunPort(),
	}
}
