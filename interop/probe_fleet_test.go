package interop

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/relayctl/relayctl/internal/certs"
	"github.com/relayctl/relayctl/internal/serverproc"
	"github.com/relayctl/relayctl/internal/testcert"
)

// fleetNode is one relay process of a probe test fleet.
type fleetNode struct {
	name     string
	kind     serverKind
	derpPort int
	stunPort int
	certPin  string // "sha256-raw:…" for TLS nodes
	tls      bool
	logs     *logBuffer
	stop     func()
}

// fleetNodeOpts choose how a node runs.
type fleetNodeOpts struct {
	tls       bool      // derper only: --certmode manual with a self-signed cert for "localhost"
	notAfter  time.Time // certificate expiry; zero means 90 days from now
	meshPSK   string    // mesh key file
	meshWith  []string  // host:port of peers (derper only)
	plainMesh bool      // derper's mesh client dials plain HTTP (TS_DEBUG_USE_DERP_HTTP)
}

func (o fleetNodeOpts) notAfterOrDefault() time.Time {
	if o.notAfter.IsZero() {
		return time.Now().Add(90 * 24 * time.Hour)
	}
	return o.notAfter
}

// startFleetNode runs a relay of kind k on fresh loopback ports and waits
// until /derp/probe answers.
func startFleetNode(t *testing.T, k serverKind, name string, o fleetNodeOpts) *fleetNode {
	t.Helper()
	bin := binaryFor(t, k)
	var lastErr error
	for range startTries {
		n, err := tryStartFleetNode(t, k, bin, name, o)
		if err == nil {
			return n
		}
		lastErr = err
	}
	t.Fatalf("starting %s %s: %v", k, name, lastErr)
	return nil
}

// reservePorts picks ports like freePorts; peers that mesh need each
// other's port before they start.
func reservePorts(t *testing.T) (tcpPort, udpPort int) { return freePorts(t) }

func tryStartFleetNode(t *testing.T, k serverKind, bin, name string, o fleetNodeOpts) (*fleetNode, error) {
	tcpPort, udpPort := reservePorts(t)
	return launchFleetNode(t, k, bin, name, o, tcpPort, udpPort)
}

func launchFleetNode(t *testing.T, k serverKind, bin, name string, o fleetNodeOpts, tcpPort, udpPort int) (*fleetNode, error) {
	dir := t.TempDir()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(tcpPort))
	n := &fleetNode{name: name, kind: k, derpPort: tcpPort, stunPort: udpPort, tls: o.tls, logs: &logBuffer{}}
	var args []string
	env := os.Environ()
	switch k {
	case derperServer:
		args = []string{"-a", addr, "-stun-port", strconv.Itoa(udpPort), "-http-port", "-1", "-c", filepath.Join(dir, "derper.json")}
		if o.tls {
			n.certPin = writeLocalhostCert(t, dir, o.notAfterOrDefault())
			args = append(args, "-hostname", "localhost", "-certmode", "manual", "-certdir", dir)
		}
		if o.meshPSK != "" {
			args = append(args, "-mesh-psk-file", o.meshPSK)
		}
		if len(o.meshWith) > 0 {
			args = append(args, "-mesh-with", strings.Join(o.meshWith, ","))
		}
		if o.plainMesh {
			env = append(env, "TS_DEBUG_USE_DERP_HTTP=1")
		}
	case relayctlServer:
		if len(o.meshWith) > 0 {
			t.Fatalf("relayctl fleet nodes: --mesh-with is not available in relayctl serve yet")
		}
		args = []string{"serve", "--certmode", "none", "--addr", addr, "--stun-port", strconv.Itoa(udpPort),
			"--http-port", "-1", "--key-file", filepath.Join(dir, "relay-key.json"), "--log-format", "json"}
		if o.tls {
			n.certPin = writeLocalhostCert(t, dir, o.notAfterOrDefault())
			args = append(args, "--certmode", "manual", "--hostname", "localhost", "--certdir", dir)
		}
		if o.meshPSK != "" {
			args = append(args, "--mesh-psk-file", o.meshPSK)
		}
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = dir, env, n.logs, n.logs
	p, err := serverproc.Start(cmd)
	if err != nil {
		return nil, err
	}
	n.stop = p.Kill
	if err := waitDERPProbe(t.Context(), p.Exited(), o.tls, addr, "localhost"); err != nil {
		n.stop()
		return nil, fmt.Errorf("%s %s: %w\nlogs:\n%s", bin, strings.Join(args, " "), err, n.logs)
	}
	t.Cleanup(func() {
		n.stop()
		if t.Failed() {
			t.Logf("%s %s logs:\n%s", k, name, n.logs)
		}
	})
	return n, nil
}

// writeLocalhostCert writes dir/localhost.crt and .key, a self-signed
// ECDSA certificate for "localhost" (and 127.0.0.1) as derper's manual
// mode reads them, and returns its sha256-raw pin.
func writeLocalhostCert(t *testing.T, dir string, notAfter time.Time) string {
	t.Helper()
	notBefore := time.Now().Add(-time.Hour)
	if notAfter.Before(notBefore) {
		notBefore = notAfter.Add(-30 * 24 * time.Hour)
	}
	c := testcert.Leaf(t, "localhost", notBefore, notAfter)
	testcert.WriteFiles(t, dir, "localhost", c)
	return certs.CertName(c.Certificate[0])
}

func writePEM(t *testing.T, path, typ string, der []byte, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), mode); err != nil {
		t.Fatal(err)
	}
}

// writeMeshKey writes a fresh mesh key file (mode 0600).
func writeMeshKey(t *testing.T) string {
	t.Helper()
	var k [32]byte
	rand.Read(k[:])
	path := filepath.Join(t.TempDir(), "mesh.key")
	if err := os.WriteFile(path, []byte(hex.EncodeToString(k[:])+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// mapNode is a DERP map node entry for n; TLS nodes are "localhost"
// pinned by hash, plain ones are 127.0.0.1.
func (n *fleetNode) mapNode(region int) map[string]any {
	host := "127.0.0.1"
	if n.tls {
		host = "localhost"
	}
	m := map[string]any{
		"Name": n.name, "RegionID": region, "HostName": host, "IPv4": "127.0.0.1", "IPv6": "none",
		"DERPPort": n.derpPort, "STUNPort": n.stunPort,
	}
	if n.certPin != "" {
		m["CertName"] = n.certPin
	}
	return m
}

type fleetRegion struct {
	id    int
	code  string
	nodes []map[string]any
}

func writeFleetMap(t *testing.T, regions ...fleetRegion) string {
	t.Helper()
	rs := map[string]any{}
	for _, r := range regions {
		rs[strconv.Itoa(r.id)] = map[string]any{"RegionID": r.id, "RegionCode": r.code, "RegionName": "Region " + r.code, "Nodes": r.nodes}
	}
	b, err := json.MarshalIndent(map[string]any{"Regions": rs}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "derpmap.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// probeReport is the part of `relayctl probe --once --json` the tests read.
type probeReport struct {
	OK      bool `json:"ok"`
	Results []struct {
		Name   string `json:"name"`
		Status string `json:"status"`
		Error  string `json:"error"`
		Detail string `json:"detail"`
	} `json:"results"`
}

// runRelayctlProbe runs `relayctl probe --once --json` and decodes its
// report.
func runRelayctlProbe(t *testing.T, env []string, args ...string) (int, probeReport, string) {
	t.Helper()
	bin := binaryFor(t, relayctlServer)
	cmd := exec.CommandContext(t.Context(), bin, append([]string{"probe", "--once", "--json"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	var rep probeReport
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("relayctl probe (exit %d): stdout is not a JSON report: %v\nstdout:\n%s\nstderr:\n%s", code, err, stdout.String(), stderr.String())
	}
	return code, rep, stderr.String()
}

// waitForLog waits until the node's output contains needle.
func (n *fleetNode) waitForLog(ctx context.Context, timeout time.Duration, needle string) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !strings.Contains(n.logs.String(), needle) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("no %q in the logs within %v", needle, timeout)
		case <-tick.C:
		}
	}
	return nil
}
