package cmd

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/relayctl/relayctl/config/configtest"
)

// TestACMEFailureIsVisible: a relay whose ACME CA cannot be reached logs
// the failure at error level once per attempt with the next attempt's
// time, counts it, answers /derp/probe on its plain-HTTP port with the
// reason, and relayctl probe reports "certificate unavailable" instead of
// a bare TLS alert. Client handshakes meanwhile do not become attempts.
func TestACMEFailureIsVisible(t *testing.T) {
	dir := configtest.Isolate(t)
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadURL := "https://" + dead.Addr().String() + "/directory"
	dead.Close() // nothing listens there: connection refused
	stderr := startRelayctl(t, "certificate unavailable", "serve", "--hostname", "derp.example.com",
		"--acme-directory-url", deadURL, "--certdir", filepath.Join(dir, "certs"), "--key-file", filepath.Join(dir, "k.json"),
		"--addr", "127.0.0.1:0", "--http-port", "0", "--stun=false", "--metrics-addr", "127.0.0.1:0")
	waitFor(t, "relay listening", func() bool { return strings.Contains(stderr.String(), "relay listening") })
	log := stderr.String()
	errLine := ""
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "certificate unavailable") {
			errLine = l
		}
	}
	for _, want := range []string{"level=ERROR", "hostname=derp.example.com", "attempt=1", "next_attempt=", "connection refused"} {
		if !strings.Contains(errLine, want) {
			t.Errorf("the failure's log line lacks %q:\n%s", want, errLine)
		}
	}
	derpPort := listenedPort(t, log, "relay listening", "addr")
	httpPort := listenedPort(t, log, "plain HTTP listening", "addr")
	metricsPort := listenedPort(t, log, "metrics listening", "addr")

	// Handshakes fail, without asking the CA again.
	for range 5 {
		c, err := tls.Dial("tcp", "127.0.0.1:"+strconv.Itoa(derpPort), &tls.Config{ServerName: "derp.example.com"})
		if err == nil {
			c.Close()
			t.Fatal("TLS handshake succeeded without a certificate")
		}
	}
	if n := strings.Count(stderr.String(), "certificate unavailable"); n != 1 {
		t.Errorf("%d failure lines after 5 handshakes, want the 1 of the one attempt:\n%s", n, stderr.String())
	}

	body, status := get(t, "http://127.0.0.1:"+strconv.Itoa(httpPort)+"/derp/probe")
	if status != http.StatusServiceUnavailable || !strings.Contains(body, "certificate unavailable: ") || !strings.Contains(body, "next attempt at ") {
		t.Errorf("/derp/probe on the plain-HTTP port: %d %q", status, body)
	}
	metricsPage, _ := get(t, "http://127.0.0.1:"+strconv.Itoa(metricsPort)+"/metrics")
	for _, want := range []string{"relayctl_cert_available 0\n", `relayctl_cert_acquisitions_total{result="error"} 1` + "\n"} {
		if !strings.Contains(metricsPage, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	derpMap := filepath.Join(dir, "map.json")
	mapJSON := fmt.Sprintf(`{"Regions":{"900":{"RegionID":900,"RegionCode":"t","Nodes":[{"Name":"900a","RegionID":900,"HostName":"derp.example.com","IPv4":"127.0.0.1","DERPPort":%d,"STUNPort":-1}]}}}`, derpPort)
	if err := os.WriteFile(derpMap, []byte(mapJSON), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _, code := runCLI(t, "probe", "--derp-map", derpMap, "--once", "--timeout", "5s")
	if code != 1 || !strings.Contains(out, "certificate unavailable: the relay has no certificate to offer") {
		t.Errorf("probe: exit %d:\n%s", code, out)
	}
}

// TestProbeExplainsPlainHTTPRelay: probing a plain-HTTP relay without
// TS_DEBUG_USE_DERP_HTTP says how to probe it.
func TestProbeExplainsPlainHTTPRelay(t *testing.T) {
	dir := configtest.Isolate(t)
	t.Setenv("TS_DEBUG_USE_DERP_HTTP", "")
	stderr := startRelayctl(t, "relay listening", "serve", "--certmode", "none", "--key-file", filepath.Join(dir, "k.json"),
		"--addr", "127.0.0.1:0", "--stun=false")
	port := listenedPort(t, stderr.String(), "relay listening", "addr")
	derpMap := filepath.Join(dir, "map.json")
	mapJSON := fmt.Sprintf(`{"Regions":{"900":{"RegionID":900,"RegionCode":"t","Nodes":[{"Name":"900a","RegionID":900,"HostName":"127.0.0.1","DERPPort":%d,"STUNPort":-1}]}}}`, port)
	if err := os.WriteFile(derpMap, []byte(mapJSON), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _, code := runCLI(t, "probe", "--derp-map", derpMap, "--once", "--timeout", "5s")
	if code != 1 || !strings.Contains(out, "TS_DEBUG_USE_DERP_HTTP=1") {
		t.Errorf("probe: exit %d:\n%s", code, out)
	}
}

func get(t *testing.T, url string) (string, int) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b), resp.StatusCode
}

// TestPruneSuggestsCertNameForSelfSignedRelay: prune against a
// self-signed relay without --cert-name says which flag trusts it.
func TestPruneSuggestsCertNameForSelfSignedRelay(t *testing.T) {
	dir := configtest.Isolate(t)
	psk := filepath.Join(dir, "mesh.key")
	if err := os.WriteFile(psk, []byte(strings.Repeat("ab", 32)), 0o600); err != nil {
		t.Fatal(err)
	}
	stderr := startRelayctl(t, "relay listening", "serve", "--certmode", "manual", "--hostname", "127.0.0.1",
		"--certdir", filepath.Join(dir, "certs"), "--key-file", filepath.Join(dir, "k.json"), "--addr", "127.0.0.1:0",
		"--http-port", "-1", "--stun=false", "--mesh-psk-file", psk)
	port := listenedPort(t, stderr.String(), "relay listening", "addr")
	_, errOut, code := runCLI(t, "prune", "--server", "https://127.0.0.1:"+strconv.Itoa(port), "--mesh-psk-file", psk, "--list")
	if code != 1 || !strings.Contains(errOut, "a self-signed relay: pass --cert-name with the CertName its DERP map node has") {
		t.Errorf("prune: exit %d:\n%s", code, errOut)
	}
}

// TestBenchReportsARepeatedErrorOnce: bench against a self-signed relay
// without --insecure prints the clients' common error once, with a
// count, and the flag that fixes it.
func TestBenchReportsARepeatedErrorOnce(t *testing.T) {
	dir := configtest.Isolate(t)
	stderr := startRelayctl(t, "relay listening", "serve", "--certmode", "manual", "--hostname", "127.0.0.1",
		"--certdir", filepath.Join(dir, "certs"), "--key-file", filepath.Join(dir, "k.json"), "--addr", "127.0.0.1:0",
		"--http-port", "-1", "--stun=false")
	port := listenedPort(t, stderr.String(), "relay listening", "addr")
	_, errOut, code := runCLI(t, "bench", "--server", "https://127.0.0.1:"+strconv.Itoa(port), "--pairs", "4", "--duration", "1s")
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if n := strings.Count(errOut, "certificate signed by unknown authority"); n != 1 {
		t.Errorf("the TLS error appears %d times, want once:\n%s", n, errOut)
	}
	for _, want := range []string{"clients)", "pass --insecure"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
}
