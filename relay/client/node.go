package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/netip"
	"strconv"
	"time"
)

// Node is a DERP map node as a client dials it, with the meaning
// Tailscale's client gives each field.
type Node struct {
	// HostName is used for the URL, the Host header and SNI (none for an
	// IP literal), and for DNS when no address is forced.
	HostName string
	// CertName: empty verifies the chain for HostName; "sha256-raw:<hex>"
	// pins the single leaf certificate; any other name verifies the chain
	// for that name instead (domain fronting).
	CertName string
	// IPv4 and IPv6 force the address to dial; a non-IP value ("none")
	// disables that family.
	IPv4, IPv6 string
	// DERPPort is the TCP port; 0 means 443 (80 over plain HTTP).
	DERPPort int
	// InsecureForTests skips certificate verification.
	InsecureForTests bool
}

// Port is the TCP port to dial.
func (n Node) Port(plainHTTP bool) int {
	switch {
	case n.DERPPort != 0:
		return n.DERPPort
	case plainHTTP:
		return 80
	}
	return 443
}

// URL is the node's DERP endpoint.
func (n Node) URL(plainHTTP bool) string {
	scheme := "https"
	if plainHTTP {
		scheme = "http"
	}
	return scheme + "://" + net.JoinHostPort(n.HostName, strconv.Itoa(n.Port(plainHTTP))) + "/derp"
}

// forcedAddr returns a family field's address, or whether it disables
// the family.
func forcedAddr(v string, want6 bool) (addr netip.Addr, disabled bool) {
	if v == "" {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(v)
	if err != nil || a.Unmap().Is4() == want6 {
		return netip.Addr{}, true
	}
	return a.Unmap(), false
}

// DialHost is the host to connect to: the forced IPv4, else the forced
// IPv6, else HostName for DNS.
func (n Node) DialHost() string {
	if a, _ := forcedAddr(n.IPv4, false); a.IsValid() {
		return a.String()
	}
	if a, _ := forcedAddr(n.IPv6, true); a.IsValid() {
		return a.String()
	}
	return n.HostName
}

// Dialer connects to DialHost whatever host it is asked for, keeping the
// port: the URL names HostName (for Host and SNI), the map says where to
// connect.
func (n Node) Dialer() func(ctx context.Context, network, addr string) (net.Conn, error) {
	host := n.DialHost()
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		_, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		var d net.Dialer
		return d.DialContext(ctx, network, net.JoinHostPort(host, port))
	}
}

// TLSConfig is the TLS configuration Tailscale's client uses for n: SNI is
// HostName (none for an IP), and the certificate is checked by
// VerifyNodeCert. roots nil means the system roots (which honour
// SSL_CERT_FILE); now nil means time.Now.
func (n Node) TLSConfig(roots *x509.CertPool, now func() time.Time) *tls.Config {
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
