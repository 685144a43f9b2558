package interop

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relayctl/relayctl/internal/certs"
	"go4.org/mem"
	"tailscale.com/derp"
	"tailscale.com/derp/derphttp"
	"tailscale.com/net/netmon"
	"tailscale.com/net/tlsdial"
	"tailscale.com/tailcfg"
	"tailscale.com/types/key"
	"tailscale.com/types/logger"
)

// Manual certificates, the way an operator without a public CA runs a
// relay: `relayctl certgen` makes the certificate and prints the DERP map,
// and each server serves the same files with --certmode manual. Clients
// are Tailscale's own (derphttp, tlsdial pinning, derpprobe).

// certgenResult is what `relayctl certgen` produced.
type certgenResult struct {
	dir  string
	pin  string           // the node's CertName
	dm   *tailcfg.DERPMap // parsed with Tailscale's own type
	node *tailcfg.DERPNode
}

var (
	certgenBuildOnce sync.Once
	certgenBin       string
	certgenBuildErr  error
)

// certgenBinary is the relayctl binary, built here when this run does not
// test relayctl itself (INTEROP_SERVERS=derper still needs certgen).
func certgenBinary(t *testing.T) string {
	t.Helper()
	if b := binaries[relayctlServer]; b != nil {
		return binaryFor(t, relayctlServer)
	}
	certgenBuildOnce.Do(func() {
		certgenBin = filepath.Join(buildDir, "relayctl-certgen")
		certgenBuildErr = buildServer(certgenBin, "..", ".")
	})
	if certgenBuildErr != nil {
		t.Fatalf("building relayctl for certgen: %v", certgenBuildErr)
	}
	return certgenBin
}

// runCertgen runs `relayctl certgen --ip 127.0.0.1` (plus extra flags)
// into a new directory and checks the DERP map it prints.
func runCertgen(t *testing.T, dir string, extra ...string) *certgenResult {
	t.Helper()
	args := append([]string{"certgen", "--ip", "127.0.0.1", "--certdir", dir}, extra...)
	cmd := exec.Command(certgenBinary(t), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("relayctl %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	var dm tailcfg.DERPMap
	dec := json.NewDecoder(&stdout)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&dm); err != nil {
		t.Fatalf("certgen stdout is not a tailcfg.DERPMap: %v", err)
	}
	region := dm.Regions[900]
	if len(dm.Regions) != 1 || region == nil || len(region.Nodes) != 1 {
		t.Fatalf("certgen map %+v: want region 900 with one node", dm)
	}
	node := region.Nodes[0]
	if !strings.HasPrefix(node.CertName, "sha256-raw:") || node.IPv4 != "127.0.0.1" {
		t.Fatalf("certgen node %+v: want a sha256-raw CertName and IPv4 127.0.0.1", node)
	}
	return &certgenResult{dir: dir, pin: node.CertName, dm: &dm, node: node}
}

// manualRelay is a server process serving TLS with --certmode manual.
type manualRelay struct {
	kind     serverKind
	hostname string
	addr     string
	tcpPort  int
	udpPort  int
	proc     *process
}

// startManualRelay starts k with the certificate for hostname from
// certDir on fresh loopback ports, and waits until it answers over TLS.
func startManualRelay(t *testing.T, k serverKind, certDir, hostname string) *manualRelay {
	t.Helper()
	bin := binaryFor(t, k)
	var lastLogs string
	for range startTries {
		tcpPort, udpPort := freePorts(t)
		r := &manualRelay{kind: k, hostname: hostname, tcpPort: tcpPort, udpPort: udpPort,
			addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(tcpPort))}
		state := t.TempDir()
		var args []string
		switch k {
		case derperServer:
			args = []string{"-a", r.addr, "-certmode", "manual", "-certdir", certDir, "-hostname", hostname,
				"-stun-port", strconv.Itoa(udpPort), "-http-port", "-1", "-c", filepath.Join(state, "derper.json")}
		case relayctlServer:
			args = []string{"serve", "--certmode", "manual", "--certdir", certDir, "--hostname", hostname,
				"--addr", r.addr, "--stun-port", strconv.Itoa(udpPort), "--http-port", "-1",
				"--key-file", filepath.Join(state, "relay-key.json"), "--log-format", "json"}
		}
		r.proc = startProcess(t, string(k), bin, nil, args...)
		if err := r.waitTLSReady(t.Context()); err == nil {
			return r
		}
		lastLogs = r.proc.logs.String()
	}
	t.Fatalf("starting %s with --certmode manual failed %d times; last logs:\n%s", k, startTries, lastLogs)
	return nil
}

// waitTLSReady polls GET /derp/probe over TLS until it answers 200.
func (r *manualRelay) waitTLSReady(ctx context.Context) error {
	return waitDERPProbe(ctx, r.proc.exited, true, r.addr, r.hostname)
}

// region is the certgen region with this server's ports: the only edit an
// operator makes when the relay does not use 443 and 3478.
func (r *manualRelay) region(cg *certgenResult, pin string) *tailcfg.DERPRegion {
	reg := *cg.dm.Regions[900]
	node := *cg.node
	node.DERPPort, node.STUNPort, node.CertName = r.tcpPort, r.udpPort, pin
	reg.Nodes = []*tailcfg.DERPNode{&node}
	return &reg
}

// connectRegionPeer connects Tailscale's derphttp region client, as
// tailscaled does from a DERP map, and waits for ServerInfo.
func connectRegionPeer(t *testing.T, region *tailcfg.DERPRegion) (*peer, error) {
	t.Helper()
	priv := key.NewNode()
	c := derphttp.NewRegionClient(priv, logger.Discard, netmon.NewStatic(), func() *tailcfg.DERPRegion { return region })
	return greet(t, c, priv, false)
}

func mustConnectRegionPeer(t *testing.T, region *tailcfg.DERPRegion) *peer {
	t.Helper()
	p, err := connectRegionPeer(t, region)
	if err != nil {
		t.Fatalf("derphttp region client: %v", err)
	}
	return p
}

// checkFastStartTaken requires the TLS state under which derphttp takes
// fast start (TLS 1.3 and a derpkey metacert naming the server's key):
// derphttp then sends Derp-Fast-Start and, had the server answered with a
// 101 anyway, would have failed on the response bytes.
func checkFastStartTaken(t *testing.T, p *peer) {
	t.Helper()
	cs, ok := p.c.TLSConnectionState()
	if !ok {
		t.Fatal("no TLS connection state")
	}
	if cs.Version != tls.VersionTLS13 {
		t.Fatalf("negotiated %s, want TLS 1.3", tls.VersionName(cs.Version))
	}
	metaKey, ok := metaCertKey(*cs)
	if !ok {
		t.Fatalf("no derpkey metacert among %d peer certificates", len(cs.PeerCertificates))
	}
	if metaKey != p.c.ServerPublicKey() {
		t.Fatalf("metacert key %s, server key %s", metaKey.ShortString(), p.c.ServerPublicKey().ShortString())
	}
}

// metaCertKey parses the server key from a derpkey metacert.
func metaCertKey(cs tls.ConnectionState) (key.NodePublic, bool) {
	for _, c := range cs.PeerCertificates {
		if hexKey, ok := strings.CutPrefix(c.Subject.CommonName, "derpkey"); ok && c.SerialNumber.Int64() == derp.ProtocolVersion {
			k, err := key.ParseNodePublicUntyped(mem.S(hexKey))
			return k, err == nil
		}
	}
	return key.NodePublic{}, false
}

// pinnedTLSConfig trusts what a DERP node with this HostName and CertName
// trusts, through Tailscale's tlsdial.
func pinnedTLSConfig(hostname, pin string) *tls.Config {
	cfg := tlsdial.Config(nil, nil)
	cfg.ServerName = hostname
	tlsdial.SetConfigExpectedCertHash(cfg, strings.TrimPrefix(pin, "sha256-raw:"))
	return cfg
}

// tlsManualCase runs against both servers with the same certgen output.
type tlsManualCase struct {
	name string
	run  func(t *testing.T, k serverKind)
}

var tlsManualCases = []tlsManualCase{
	{"derphttp_pinned_ip", testDERPHTTPPinnedIP},
	{"wrong_pin_rejected", testWrongPinRejected},
	{"raw_fast_start", testRawFastStart},
	{"rotation", testManualRotation},
	{"derpprobe_localhost", testDerpprobeLocalhost},
}

func TestManualTLSInterop(t *testing.T) {
	for _, k := range selectedKinds() {
		t.Run(string(k), func(t *testing.T) {
			t.Parallel()
			for _, tc := range tlsManualCases {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					tc.run(t, k)
				})
			}
		})
	}
}

// testDERPHTTPPinnedIP: the map certgen printed for 127.0.0.1 is all a
// Tailscale client needs to reach the relay over TLS, by fast start.
func testDERPHTTPPinnedIP(t *testing.T, k serverKind) {
	cg := runCertgen(t, t.TempDir())
	if cg.node.HostName != "127.0.0.1" {
		t.Fatalf("certgen HostName %q, want 127.0.0.1", cg.node.HostName)
	}
	r := startManualRelay(t, k, cg.dir, "127.0.0.1")
	region := r.region(cg, cg.pin)
	a := mustConnectRegionPeer(t, region)
	b := mustConnectRegionPeer(t, region)
	checkFastStartTaken(t, a)
	checkFastStartTaken(t, b)
	exchange(t, a, b)
	big := bytes.Repeat([]byte{0xa5}, 64<<10)
	a.send(t, b.pub, big)
	b.expectPacket(t, a.pub, big)
}

// testWrongPinRejected: a node whose CertName pins another certificate
// does not connect; the right pin does, so the failure is the pin's.
func testWrongPinRejected(t *testing.T, k serverKind) {
	cg := runCertgen(t, t.TempDir())
	other := runCertgen(t, t.TempDir())
	r := startManualRelay(t, k, cg.dir, "127.0.0.1")
	if _, err := connectRegionPeer(t, r.region(cg, other.pin)); err == nil {
		t.Fatal("derphttp connected with a pin for another certificate")
	}
	mustConnectRegionPeer(t, r.region(cg, cg.pin))
}

// testRawFastStart checks the fast-start bytes: request and ClientInfo in
// one write, no HTTP response, ServerKey (the metacert's key) first.
func testRawFastStart(t *testing.T, k serverKind) {
	cg := runCertgen(t, t.TempDir())
	r := startManualRelay(t, k, cg.dir, "127.0.0.1")
	d := &tls.Dialer{Config: pinnedTLSConfig("127.0.0.1", cg.pin)}
	ctx, cancel := context.WithTimeout(t.Context(), msgTimeout)
	defer cancel()
	nc, err := d.DialContext(ctx, "tcp", r.addr)
	if err != nil {
		t.Fatalf("TLS with the certgen pin: %v", err)
	}
	t.Cleanup(func() { nc.Close() })
	metaKey, ok := metaCertKey(nc.(*tls.Conn).ConnectionState())
	if !ok {
		t.Fatal("no derpkey metacert")
	}
	c := &rawConn{nc: nc, br: bufio.NewReader(nc), bw: bufio.NewWriter(nc), serverKey: metaKey}
	priv := key.NewNode()
	fmt.Fprintf(c.bw, "GET /derp HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUser-Agent: Go-http-client/1.1\r\nConnection: Upgrade\r\nDerp-Fast-Start: 1\r\nUpgrade: DERP\r\n\r\n", r.tcpPort)
	c.writeFrame(t, derp.FrameClientInfo, clientInfoPayload(priv, metaKey)) // flushes both together

	c.nc.SetReadDeadline(time.Now().Add(msgTimeout))
	first, err := c.br.Peek(5)
	if err != nil {
		t.Fatalf("reading the first bytes: %v", err)
	}
	if bytes.HasPrefix(first, []byte("HTTP/")) {
		t.Fatalf("server answered fast start with an HTTP response: %q", first)
	}
	typ, payload := c.expectFrame(t)
	if typ != derp.FrameServerKey || len(payload) != len(derp.Magic)+derp.KeyLen {
		t.Fatalf("first frame %#x of %d bytes, want ServerKey of 40", typ, len(payload))
	}
	if got := key.NodePublicFromRaw32(mem.B(payload[len(derp.Magic):])); got != metaKey {
		t.Fatalf("ServerKey %s, metacert key %s", got.ShortString(), metaKey.ShortString())
	}
	c.expectServerInfo(t, priv)
}

// testManualRotation replaces the files with `certgen --force` while
// clients stay connected. relayctl serves the new certificate to new
// handshakes within its one-second check and keeps the old connections
// delivering. derper reads its files only at start: it keeps presenting
// the old certificate until restarted (the case pins that difference).
func testManualRotation(t *testing.T, k serverKind) {
	cg := runCertgen(t, t.TempDir())
	r := startManualRelay(t, k, cg.dir, "127.0.0.1")
	oldRegion := r.region(cg, cg.pin)
	a := mustConnectRegionPeer(t, oldRegion)
	b := mustConnectRegionPeer(t, oldRegion)
	exchange(t, a, b)

	rotated := runCertgen(t, cg.dir, "--force")
	if rotated.pin == cg.pin {
		t.Fatal("certgen --force kept the pin")
	}
	newRegion := r.region(cg, rotated.pin)
	presented := func() (string, error) {
		d := &tls.Dialer{Config: &tls.Config{InsecureSkipVerify: true}}
		nc, err := d.DialContext(t.Context(), "tcp", r.addr)
		if err != nil {
			return "", err
		}
		defer nc.Close()
		return certs.CertName(nc.(*tls.Conn).ConnectionState().PeerCertificates[0].Raw), nil
	}

	switch k {
	case relayctlServer:
		waitUntil(t, 5*time.Second, "new handshakes presenting the rotated certificate", func() error {
			got, err := presented()
			if err == nil && got != rotated.pin {
				err = fmt.Errorf("presented %s", got)
			}
			return err
		})
		c := mustConnectRegionPeer(t, newRegion)
		checkFastStartTaken(t, c)
		exchange(t, a, c) // an old connection and a new one
		exchange(t, a, b) // both old connections
		if _, err := connectRegionPeer(t, oldRegion); err == nil {
			t.Fatal("a client pinning the replaced certificate still connected")
		}
	case derperServer:
		// Watch past relayctl's reload interval: derper must not change.
		deadline := time.Now().Add(2500 * time.Millisecond)
		for time.Now().Before(deadline) {
			got, err := presented()
			if err != nil {
				t.Fatal(err)
			}
			if got != cg.pin {
				t.Fatalf("derper presented %s after rotation; it was expected to need a restart", got)
			}
		}
		if _, err := connectRegionPeer(t, newRegion); err == nil {
			t.Fatal("derper served the rotated certificate without a restart")
		}
		exchange(t, a, b)
	}
}

// testDerpprobeLocalhost runs Tailscale's derpprobe --once against a
// relay named localhost, pinned by the certificate certgen made for
// 127.0.0.1 and localhost. Spec Appendix A.3: mesh (one node) and udp are
// good; the tls probe fails, since it verifies against public roots and
// ignores CertName; derpprobe therefore exits 1.
func testDerpprobeLocalhost(t *testing.T, k serverKind) {
	cg := runCertgen(t, t.TempDir(), "--hostname", "localhost")
	if cg.node.HostName != "localhost" {
		t.Fatalf("certgen HostName %q, want localhost", cg.node.HostName)
	}
	if _, err := os.Stat(filepath.Join(cg.dir, "localhost.crt")); err != nil {
		t.Fatalf("certgen --hostname localhost: %v", err)
	}
	r := startManualRelay(t, k, cg.dir, "localhost")
	mapFile := writeDERPMap(t, &tailcfg.DERPMap{Regions: map[int]*tailcfg.DERPRegion{900: r.region(cg, cg.pin)}})

	probe := toolBinary(t, "tailscale.com/cmd/derpprobe")
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, probe, "-derp-map", "file://"+mapFile, "-once", "-spread=false")
	out, err := cmd.CombinedOutput()
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.ExitCode() != 1 {
		t.Fatalf("derpprobe: %v, want exit status 1 (the tls probe fails)\n%s", err, out)
	}
	want := map[string]string{
		"derp/custom/900a/900a/mesh": "good",
		"derp/custom/900a/udp":       "good",
		"derp/custom/900a/tls":       "bad",
	}
	got := map[string]string{}
	for line := range strings.Lines(string(out)) {
		for _, verdict := range []string{"good", "bad"} {
			if _, rest, ok := strings.Cut(line, " "+verdict+": "); ok {
				name, _, _ := strings.Cut(rest, ":")
				got[name] = verdict
			}
		}
	}
	for name, verdict := range want {
		if got[name] != verdict {
			t.Errorf("probe %s: %q, want %q", name, got[name], verdict)
		}
	}
	if t.Failed() {
		t.Logf("derpprobe output:\n%s", out)
	}
}
