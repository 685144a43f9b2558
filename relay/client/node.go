package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/relayctl/relayctl/internal/derpmap"
)

// NodeDialer connects to n.DialHost() on n.DERPPortFor(plain) whatever
// address it is asked for: the URL (n.URL) names HostName for the Host
// header and SNI, and over plain HTTP leaves out the port that Tailscale's
// client nonetheless dials (3340); the map says where to connect.
func NodeDialer(n *derpmap.DERPNode, plain bool) func(ctx context.Context, network, addr string) (net.Conn, error) {
	target := net.JoinHostPort(n.DialHost(), strconv.Itoa(n.DERPPortFor(plain)))
	return func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, target)
	}
}

// NodeTLSConfig is the TLS configuration Tailscale's client uses for n:
// SNI is HostName (none for an IP), and the certificate is checked by
// VerifyNodeCert. roots nil means the system roots (which honour
// SSL_CERT_FILE); now nil means time.Now.
func NodeTLSConfig(n *derpmap.DERPNode, roots *x509.CertPool, now func() time.Time) *tls.Config {
	if now == nil {
		now = time.Now
	}
	cfg := &tls.Config{
		NextProtos: []string{"http/1.1"},
		// VerifyConnection below replaces the default chain check, so
		// that pins and CertName fronting follow Tailscale's rules.
		InsecureSkipVerify: true,
	}
	if _, err := netip.ParseAddr(n.HostName); err != nil {
		cfg.ServerName = n.HostName
	}
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		return VerifyNodeCert(n, cs, roots, now())
	}
	return cfg
}
