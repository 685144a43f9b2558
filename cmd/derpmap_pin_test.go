package cmd

import (
	"crypto/tls"
	"encoding/pem"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/relayctl/relayctl/internal/certs"
)

// pinTestRelay is a TLS server with a self-signed certificate for
// 127.0.0.1, standing in for a relay's DERP port.
type pinTestRelay struct {
	port    int
	pin     string
	certPEM []byte
}

func startPinTestRelay(t *testing.T) pinTestRelay {
	t.Helper()
	certPEM, keyPEM, err := certs.SelfSigned(netip.MustParseAddr("127.0.0.1"), "", 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.NotFoundHandler())
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	block, _ := pem.Decode(certPEM)
	return pinTestRelay{port: srv.Listener.Addr().(*net.TCPAddr).Port, pin: certs.CertName(block.Bytes), certPEM: certPEM}
}

func TestDERPMapPin(t *testing.T) {
	a, b, c := startPinTestRelay(t), startPinTestRelay(t), startPinTestRelay(t)
	stale := "sha256-raw:" + strings.Repeat("0", 64)
	crt := writeTestFile(t, "c.crt", string(c.certPEM))
	node := func(name string, r pinTestRelay, cert string) string {
		return "  - name: " + name + "\n    region: fra\n    hostname: 127.0.0.1\n    derp-port: " + strconv.Itoa(r.port) + "\n    cert: " + cert + " # " + name + "\n"
	}
	doc := "# the fleet\nregions:\n  - {id: 900, code: fra}\nnodes:\n" +
		node("a", a, "pin") + node("b", b, stale) + node("c", c, "file:"+crt) +
		"  - {name: ca, region: fra, hostname: derp.invalid} # public CA: skipped\n"
	inv := writeTestFile(t, "fleet.yaml", doc)

	// --check reports the unfilled and the stale pin, writes nothing.
	stdout, stderr, code := runCLI(t, "derpmap", "pin", inv, "--check")
	if code != 1 || !strings.Contains(stderr, "2 node(s) not matching or not reachable: a, b") {
		t.Errorf("check before pinning: exit %d, %s", code, stderr)
	}
	for _, want := range []string{"not-pinned", "mismatch", "serves " + b.pin + ", pinned " + stale, "ok"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("check output lacks %q:\n%s", want, stdout)
		}
	}
	if strings.Contains(stdout, "derp.invalid") || strings.Contains(stdout, "ca ") {
		t.Errorf("public-CA node was dialled:\n%s", stdout)
	}
	if got, _ := os.ReadFile(inv); string(got) != doc {
		t.Fatalf("--check changed the inventory:\n%s", got)
	}

	// Filling in writes exactly the two pins.
	_, stderr, code = runCLI(t, "derpmap", "pin", inv)
	if code != 0 || !strings.Contains(stderr, "wrote 2 pin(s)") {
		t.Fatalf("pin: exit %d, %s", code, stderr)
	}
	want := strings.Replace(strings.Replace(doc, "cert: pin # a", "cert: "+a.pin+" # a", 1), "cert: "+stale+" # b", "cert: "+b.pin+" # b", 1)
	if got, _ := os.ReadFile(inv); string(got) != want {
		t.Errorf("inventory after pin:\n%s\nwant:\n%s", got, want)
	}
	stdout, stderr, code = runCLI(t, "derpmap", "pin", inv, "--check")
	if code != 0 || strings.Count(stdout, " ok ") != 3 {
		t.Errorf("check after pinning: exit %d\n%s%s", code, stdout, stderr)
	}
}

func TestDERPMapPinUnreachable(t *testing.T) {
	dead := freePort(t, "tcp")
	inv := writeTestFile(t, "fleet.yaml", "regions: [{id: 900, code: a}]\nnodes: [{name: a1, region: a, hostname: 127.0.0.1, derp-port: "+strconv.Itoa(dead)+", cert: pin}]\n")
	stdout, stderr, code := runCLI(t, "derpmap", "pin", inv, "--timeout", "5s")
	if code != 1 || !strings.Contains(stdout, "error") || !strings.Contains(stdout, "connection refused") {
		t.Errorf("exit %d\n%s%s", code, stdout, stderr)
	}
}
