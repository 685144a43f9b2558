package probe

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"net"
	"testing"
	"time"

	"github.com/relayctl/relayctl/internal/certs"
	"github.com/relayctl/relayctl/internal/testcert"
	"github.com/relayctl/relayctl/relay/relaytest"
)

// testNode is an in-process relay (DERP over HTTP or HTTPS, plus STUN) on
// loopback.
type testNode struct {
	*relaytest.Relay
	stunPort int
	certPin  string // sha256-raw:… for TLS nodes
	cert     *x509.Certificate
}

type nodeOpts struct {
	tls       bool
	notBefore time.Time
	notAfter  time.Time
	noSTUN    bool
}

func startTestNode(t *testing.T, o nodeOpts) *testNode {
	t.Helper()
	ro := relaytest.Options{Hostname: "localhost", STUN: !o.noSTUN}
	n := &testNode{}
	if o.tls {
		if o.notAfter.IsZero() {
			o.notBefore, o.notAfter = time.Now().Add(-time.Hour), time.Now().Add(90*24*time.Hour)
		}
		cert, leaf := selfSignedCert(t, "localhost", o.notBefore, o.notAfter)
		ro.Certificate = &cert
		n.cert = leaf
		n.certPin = certPinFor(leaf)
	}
	n.Relay = relaytest.Start(t, ro)
	n.stunPort = n.STUNPort
	if o.noSTUN {
		n.stunPort = deadUDPPort(t)
	}
	return n
}

func (n *testNode) port() int { return n.Port }

// node describes the test node in a DERP map.
func (n *testNode) node(name string, region int) *DERPNode {
	return &DERPNode{
		Name: name, RegionID: region, HostName: "localhost", CertName: n.certPin,
		IPv4: "127.0.0.1", IPv6: "none", STUNPort: n.stunPort, DERPPort: n.port(),
	}
}

// deadUDPPort is a loopback UDP port with nothing listening.
func deadUDPPort(t *testing.T) int {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := pc.LocalAddr().(*net.UDPAddr).Port
	pc.Close()
	return port
}

// deadTCPPort is a loopback TCP port with nothing listening.
func deadTCPPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

func selfSignedCert(t *testing.T, host string, notBefore, notAfter time.Time) (tls.Certificate, *x509.Certificate) {
	c := testcert.Leaf(t, host, notBefore, notAfter)
	return c, c.Leaf
}

func certPinFor(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return certs.PinPrefix + hex.EncodeToString(sum[:])
}

func oneRegionMap(id int, code string, nodes ...*DERPNode) *DERPMap {
	return &DERPMap{Regions: map[int]*DERPRegion{id: {RegionID: id, RegionCode: code, RegionName: "Region " + code, Nodes: nodes}}}
}

func resultsByName(rs []Result) map[string]Result {
	m := map[string]Result{}
	for _, r := range rs {
		m[r.Name] = r
	}
	return m
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
