package derpmap

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"

	"github.com/relayctl/relayctl/internal/certs"
)

// LiveCert is what a node presents on its DERP port.
type LiveCert struct {
	Addr string // host:port dialled
	// Chain is the presented chain without derpkey metacerts.
	Chain []*x509.Certificate
}

// Pin is the sha256-raw pin of the leaf.
func (c LiveCert) Pin() string { return certs.CertName(c.Chain[0].Raw) }

// FetchLiveCert connects to n's DERP port as a client would (the forced
// IPv4, else IPv6, else HostName; SNI HostName unless it is an IP) and
// returns the certificates presented, without verifying them: the point
// is to learn what the relay serves now.
func FetchLiveCert(ctx context.Context, n *DERPNode) (LiveCert, error) {
	host := n.HostName
	if a, err := parseAddr(n.IPv4); err == nil && a.Is4() {
		host = a.String()
	} else if a, err := parseAddr(n.IPv6); err == nil && a.Is6() {
		host = a.String()
	}
	port := n.DERPPort
	if port == 0 {
		port = 443
	}
	lc := LiveCert{Addr: net.JoinHostPort(host, strconv.Itoa(port))}
	cfg := &tls.Config{
		InsecureSkipVerify: true, // reading the certificate, not trusting it
		NextProtos:         []string{"http/1.1"},
	}
	if _, err := netip.ParseAddr(n.HostName); err != nil {
		cfg.ServerName = n.HostName
	}
	d := tls.Dialer{Config: cfg}
	conn, err := d.DialContext(ctx, "tcp", lc.Addr)
	if err != nil {
		return lc, fmt.Errorf("TLS to %s: %w", lc.Addr, err)
	}
	defer conn.Close()
	for _, c := range conn.(*tls.Conn).ConnectionState().PeerCertificates {
		if !certs.IsMetaCert(c) {
			lc.Chain = append(lc.Chain, c)
		}
	}
	if len(lc.Chain) == 0 {
		return lc, errors.New("no certificate presented")
	}
	return lc, nil
}
