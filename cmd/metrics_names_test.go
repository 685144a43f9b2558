package cmd

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/relayctl/relayctl/config/configtest"
	"github.com/relayctl/relayctl/internal/metrics"
	"github.com/relayctl/relayctl/probe/monitor"
	"github.com/relayctl/relayctl/probe/prober"
)

// TestMetricsFollowPrometheusConventions scrapes /metrics on
// --metrics-addr of a relay with every optional part on (ACME TLS, mesh,
// admission webhook, connection caps), runs promtool check metrics on it,
// and checks that every relay and prober metric the shipped alert rules
// use is served.
func TestMetricsFollowPrometheusConventions(t *testing.T) {
	dir := configtest.Isolate(t)
	psk := filepath.Join(dir, "mesh.key")
	if err := os.WriteFile(psk, []byte(strings.Repeat("ab", 32)), 0o600); err != nil {
		t.Fatal(err)
	}
	// An ACME relay whose CA is not there: its certificate metrics too.
	stderr := startRelayctl(t, "metrics listening", "serve", "--hostname", "derp.example.com",
		"--acme-directory-url", "https://127.0.0.1:1/directory",
		"--certdir", filepath.Join(dir, "certs"), "--key-file", filepath.Join(dir, "k.json"), "--addr", "127.0.0.1:0",
		"--http-port", "0", "--stun-port", "0", "--metrics-addr", "127.0.0.1:0", "--max-conns", "100",
		"--accept-connection-limit", "100", "--mesh-psk-file", psk, "--mesh-with", "127.0.0.1:1",
		"--verify-client-url", "http://127.0.0.1:1/admit")
	port := listenedPort(t, stderr.String(), "metrics listening", "addr")
	resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(port) + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()

	// The prober's series, as its /metrics serves them.
	probeReg := metrics.NewRegistry()
	mopts := monitor.DefaultOptions()
	mopts.Prober, mopts.Registry = prober.New(prober.DefaultConfig()), probeReg
	if _, err := monitor.New(mopts); err != nil {
		t.Fatal(err)
	}
	var probeOut bytes.Buffer
	if err := probeReg.WriteConventional(&probeOut); err != nil {
		t.Fatal(err)
	}
	served := familyNames(string(body) + probeOut.String())
	alerts, err := os.ReadFile("../deploy/prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range regexp.MustCompile(`\b(?:derp|relayctl)_[a-z0-9_]+`).FindAllString(string(alerts), -1) {
		if !slices.Contains(served, name) {
			t.Errorf("deploy/prometheus/alerts.yml uses %s, which neither a relay's nor the prober's /metrics serves", name)
		}
	}

	if p, err := exec.LookPath("promtool"); err != nil {
		t.Log("promtool not installed (Debian: apt-get install prometheus); .ci/run installs it: skipping promtool check metrics")
	} else {
		cmd := exec.Command(p, "check", "metrics")
		cmd.Stdin = bytes.NewReader(body)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool check metrics on a relay's /metrics: %v\n%s", err, out)
		}
		cmd = exec.Command(p, "check", "metrics")
		cmd.Stdin = &probeOut
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool check metrics on the prober's /metrics: %v\n%s", err, out)
		}
	}
}

// familyNames lists the families of a Prometheus text page.
func familyNames(page string) []string {
	var out []string
	for _, line := range strings.Split(page, "\n") {
		if f := strings.Fields(line); len(f) >= 3 && f[0] == "#" && f[1] == "TYPE" {
			out = append(out, f[2])
		}
	}
	return out
}
