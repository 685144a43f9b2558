package interop

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"tailscale.com/derp"
	"tailscale.com/derp/derphttp"
	"tailscale.com/net/netmon"
	"tailscale.com/tailcfg"
	"tailscale.com/types/key"
	"tailscale.com/types/logger"

	"github.com/relayctl/relayctl/internal/serverproc"
)

// Helpers for multi-node regions: relay processes on fixed loopback ports
// (so a node can be killed and started again as the same node), each with
// its own certgen certificate, and Tailscale region clients that follow
// the region across node failures.

// regionNode is one relay of a test region.
type regionNode struct {
	kind     serverKind
	name     string // DERP map node name
	hostname string // --hostname, the certificate's name and the map's HostName
	pin      string // the certificate's CertName
	certFile string
	certDir  string
	stateDir string // the key file lives here, so a restart keeps the node's key
	tcpPort  int
	udpPort  int

	meshKeyFile string
	meshWith    string   // the --mesh-with value, comma-separated
	env         []string // added to the process environment (SSL_CERT_FILE)

	logs   *logBuffer // every run's output, shown if the test fails
	proc   *os.Process
	exited <-chan struct{}
	// serverKey is learned from the first client that lands on the node.
	serverKey key.NodePublic
}

// newRegionNode makes the node's certificate (certgen for 127.0.0.1,
// plus hostname when it is a name) and picks its ports; start runs it.
func newRegionNode(t *testing.T, k serverKind, name, hostname string) *regionNode {
	t.Helper()
	var extra []string
	if hostname != "127.0.0.1" {
		extra = []string{"--hostname", hostname}
	}
	cg := runCertgen(t, t.TempDir(), extra...)
	n := &regionNode{kind: k, name: name, hostname: hostname, pin: cg.pin, certDir: cg.dir,
		certFile: filepath.Join(cg.dir, hostname+".crt"), stateDir: t.TempDir(), logs: &logBuffer{}}
	n.tcpPort, n.udpPort = freePorts(t)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s node %s (%s) logs:\n%s", k, name, n.addr(), n.logs)
		}
	})
	return n
}

func (n *regionNode) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(n.tcpPort)) }

// meshURL is how relayctl names this node in --mesh-with.
func (n *regionNode) meshURL() string {
	return "https://" + net.JoinHostPort(n.hostname, strconv.Itoa(n.tcpPort))
}

// meshHostPort is how derper names this node in --mesh-with (it adds
// https:// and /derp itself).
func (n *regionNode) meshHostPort() string {
	return net.JoinHostPort(n.hostname, strconv.Itoa(n.tcpPort))
}

func (n *regionNode) args() []string {
	state := n.stateDir
	switch n.kind {
	case derperServer:
		args := []string{"-a", n.addr(), "-certmode", "manual", "-certdir", n.certDir, "-hostname", n.hostname,
			"-stun-port", strconv.Itoa(n.udpPort), "-http-port", "-1", "-c", filepath.Join(state, "derper.json")}
		if n.meshKeyFile != "" {
			args = append(args, "-mesh-psk-file", n.meshKeyFile)
		}
		if n.meshWith != "" {
			args = append(args, "-mesh-with", n.meshWith)
		}
		return args
	default:
		args := []string{"serve", "--certmode", "manual", "--certdir", n.certDir, "--hostname", n.hostname,
			"--addr", n.addr(), "--stun-port", strconv.Itoa(n.udpPort), "--http-port", "-1",
			"--key-file", filepath.Join(state, "relay-key.json"), "--log-format", "json"}
		if n.meshKeyFile != "" {
			args = append(args, "--mesh-psk-file", n.meshKeyFile)
		}
		if n.meshWith != "" {
			args = append(args, "--mesh-with", n.meshWith)
		}
		return args
	}
}

// start runs the node and waits until it answers over TLS. It may be
// called again after kill: same ports, certificate and key file.
func (n *regionNode) start(t *testing.T) {
	t.Helper()
	bin := binaryFor(t, n.kind)
	args := n.args()
	fmt.Fprintf(n.logs, "--- %s %s\n", filepath.Base(bin), strings.Join(args, " "))
	cmd := exec.Command(bin, args...)
	cmd.Dir = n.stateDir
	cmd.Env = append(os.Environ(), n.env...)
	cmd.Stdout, cmd.Stderr = n.logs, n.logs
	p, err := serverproc.Start(cmd)
	if err != nil {
		t.Fatalf("start %s node %s: %v", n.kind, n.name, err)
	}
	n.proc, n.exited = p.OS(), p.Exited()
	t.Cleanup(p.Kill)
	if err := waitDERPProbe(t.Context(), n.exited, true, n.addr(), n.hostname); err != nil {
		t.Fatalf("%s node %s on %s not ready: %v", n.kind, n.name, n.addr(), err)
	}
}

// kill ends the node with SIGKILL: no Restarting frame, no clean close.
func (n *regionNode) kill(t *testing.T) {
	t.Helper()
	if err := n.proc.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill node %s: %v", n.name, err)
	}
	select {
	case <-n.exited:
	case <-time.After(msgTimeout):
		t.Fatalf("node %s still running %v after SIGKILL", n.name, msgTimeout)
	}
}

// derpNode is the node's DERP map entry, pinned to its certificate.
func (n *regionNode) derpNode() *tailcfg.DERPNode {
	return &tailcfg.DERPNode{Name: n.name, RegionID: 900, HostName: n.hostname, IPv4: "127.0.0.1", IPv6: "none",
		CertName: n.pin, DERPPort: n.tcpPort, STUNPort: n.udpPort}
}

// regionOf is region 900 with the nodes in the given order: a region
// client tries Nodes[0] first and calls it the ideal node.
func regionOf(nodes ...*regionNode) *tailcfg.DERPRegion {
	r := &tailcfg.DERPRegion{RegionID: 900, RegionCode: "test", RegionName: "test region"}
	for _, n := range nodes {
		r.Nodes = append(r.Nodes, n.derpNode())
	}
	return r
}

// writeCertBundle concatenates the nodes' certificates into one PEM file
// for SSL_CERT_FILE: each self-signed certificate is its own root.
func writeCertBundle(t *testing.T, nodes ...*regionNode) string {
	t.Helper()
	var bundle bytes.Buffer
	for _, n := range nodes {
		b, err := os.ReadFile(n.certFile)
		if err != nil {
			t.Fatal(err)
		}
		bundle.Write(b)
	}
	path := filepath.Join(t.TempDir(), "roots.pem")
	if err := os.WriteFile(path, bundle.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// varz fetches the node's loopback-only /debug/varz over TLS.
func (n *regionNode) varz(ctx context.Context) (string, error) {
	cfg := &tls.Config{InsecureSkipVerify: true} // the test reads metrics; trust is checked elsewhere
	if net.ParseIP(n.hostname) == nil {
		cfg.ServerName = n.hostname // both servers refuse a handshake for another name
	}
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
	defer hc.CloseIdleConnections()
	return getPage(ctx, hc, "https://"+n.addr()+"/debug/varz")
}

// roamingRetry is the pause before a region client dials again after its
// connection broke (tailscaled backs off similarly, up to 5 s).
const roamingRetry = 50 * time.Millisecond

// connectRoamingPeer connects a Tailscale region client that, unlike
// connectRegionPeer's, keeps reading across reconnects the way tailscaled's
// DERP read loop does: after its connection breaks, the next Recv dials the
// region again, Nodes[0] first, then the others in order.
func connectRoamingPeer(t *testing.T, region *tailcfg.DERPRegion) *peer {
	t.Helper()
	priv := key.NewNode()
	c := derphttp.NewRegionClient(priv, logger.Discard, netmon.NewStatic(), func() *tailcfg.DERPRegion { return region })
	p, err := greet(t, c, priv, true)
	if err != nil {
		t.Fatalf("derphttp region client: %v", err)
	}
	return p
}

// startRoamingInbox feeds an inbox from c across reconnects; it ends only
// when c is closed.
func startRoamingInbox(c *derphttp.Client) *inbox {
	return drainInto(c, func(err error) bool {
		if errors.Is(err, derphttp.ErrClientClosed) {
			return false
		}
		time.Sleep(roamingRetry) // a retry pause, as a real client's backoff
		return true
	})
}

// deliver sends tagged packets from a to b until b receives one, within
// timeout. Right after a client or a node (re)connects, the sender's node
// may not yet know which node holds b, so early packets can be dropped;
// that is how a region behaves, and a real client retries the same way.
// Other messages b receives meanwhile (ServerInfo after a reconnect, late
// copies from earlier calls) are skipped.
func deliver(t *testing.T, a, b *peer, timeout time.Duration) {
	t.Helper()
	tag := fmt.Sprintf("%s>%s@%d#", a.pub.ShortString(), b.pub.ShortString(), time.Now().UnixNano())
	deadline := time.Now().Add(timeout)
	var sendErr error
	for i := 0; time.Now().Before(deadline); i++ {
		if err := a.c.Send(b.pub, []byte(tag+strconv.Itoa(i))); err != nil {
			sendErr = err
		}
		_, err := b.in.waitFor(min(250*time.Millisecond, time.Until(deadline)), func(m derp.ReceivedMessage) bool {
			p, ok := m.(derp.ReceivedPacket)
			return ok && p.Source == a.pub && bytes.HasPrefix(p.Data, []byte(tag))
		})
		if err == nil {
			return
		}
	}
	t.Fatalf("no packet %s → %s within %v (sender on %s, receiver on %s; last send error: %v)", a.pub.ShortString(), b.pub.ShortString(),
		timeout, a.c.ServerPublicKey().ShortString(), b.c.ServerPublicKey().ShortString(), sendErr)
}

// deliverBothWays is deliver in each direction.
func deliverBothWays(t *testing.T, a, b *peer, timeout time.Duration) {
	t.Helper()
	deliver(t, a, b, timeout)
	deliver(t, b, a, timeout)
}

// waitServerKey waits until p is connected to the node with server key
// want (derphttp reports the key of its current connection).
func waitServerKey(t *testing.T, p *peer, want key.NodePublic, timeout time.Duration, what string) {
	t.Helper()
	waitUntil(t, timeout, what, func() error {
		if got := p.c.ServerPublicKey(); got != want {
			return fmt.Errorf("client %s is on server %s, want %s", p.pub.ShortString(), got.ShortString(), want.ShortString())
		}
		return nil
	})
}
