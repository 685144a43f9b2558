// Package probetest starts in-process relays on loopback (DERP over HTTP
// or HTTPS, and STUN) for the tests of the prober, the monitor and
// netcheck, and describes them as DERP map nodes.
package probetest

import (
	"crypto/tls"
	"crypto/x509"
	"testing"
	"time"

	"github.com/relayctl/relayctl/internal/certs"
	"github.com/relayctl/relayctl/internal/derpmap"
	"github.com/relayctl/relayctl/internal/serverproc"
	"github.com/relayctl/relayctl/internal/testcert"
	"github.com/relayctl/relayctl/relay/relaytest"
)

// Node is an in-process relay (DERP over HTTP or HTTPS, plus STUN) on
// loopback.
type Node struct {
	port     int
	STUNPort int
	Pin      string // sha256-raw:… for TLS nodes
	Cert     *x509.Certificate
}

// NodeOpts shape a Node: HTTPS with a certificate valid from NotBefore
// to NotAfter (default: an hour ago to 90 days on), or no STUN.
type NodeOpts struct {
	TLS       bool
	NotBefore time.Time
	NotAfter  time.Time
	NoSTUN    bool
}

// StartNode starts a relay that stops when the test ends.
func StartNode(t testing.TB, o NodeOpts) *Node {
	t.Helper()
	ro := relaytest.Options{Hostname: "localhost", STUN: !o.NoSTUN}
	n := &Node{}
	if o.TLS {
		if o.NotAfter.IsZero() {
			o.NotBefore, o.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(90*24*time.Hour)
		}
		cert, leaf := SelfSignedCert(t, "localhost", o.NotBefore, o.NotAfter)
		ro.Certificate = &cert
		n.Cert = leaf
		n.Pin = CertPin(leaf)
	}
	r := relaytest.Start(t, ro)
	n.port, n.STUNPort = r.Port, r.STUNPort
	if o.NoSTUN {
		n.STUNPort = DeadUDPPort(t)
	}
	return n
}

// Port is the node's DERP port.
func (n *Node) Port() int {
	return n.port
}

// DERPNode describes the test node in a DERP map.
func (n *Node) DERPNode(name string, region int) *derpmap.DERPNode {
	return &derpmap.DERPNode{
		Name: name, RegionID: region, HostName: "localhost", CertName: n.Pin,
		IPv4: "127.0.0.1", IPv6: "none", STUNPort: n.STUNPort, DERPPort: n.Port(),
	}
}

// DeadUDPPort is a loopback UDP port with nothing listening.
func DeadUDPPort(t testing.TB) int {
	t.Helper()
	return deadPort(t, serverproc.FreeUDPPort)
}

// DeadTCPPort is a loopback TCP port with nothing listening.
func DeadTCPPort(t testing.TB) int {
	t.Helper()
	return deadPort(t, serverproc.FreeTCPPort)
}

func deadPort(t testing.TB, free func() (int, error)) int {
	t.Helper()
	port, err := free()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// SelfSignedCert is a self-signed ECDSA leaf for host and 127.0.0.1.
func SelfSignedCert(t testing.TB, host string, notBefore, notAfter time.Time) (tls.Certificate, *x509.Certificate) {
	t.Helper()
	c := testcert.Leaf(t, host, notBefore, notAfter)
	return c, c.Leaf
}

// CertPin is c's sha256-raw CertName pin.
func CertPin(c *x509.Certificate) string {
	return certs.CertName(c.Raw)
}

// OneRegionMap is a map of one region with nodes.
func OneRegionMap(id int, code string, nodes ...*derpmap.DERPNode) *derpmap.DERPMap {
	return &derpmap.DERPMap{Regions: map[int]*derpmap.DERPRegion{id: {RegionID: id, RegionCode: code, RegionName: "Region " + code, Nodes: nodes}}}
}
