package interop

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// scrape reads one series from a relay's /debug/varz.
func scrape(t *testing.T, httpAddr, series string) string {
	t.Helper()
	resp, err := http.Get("http://" + httpAddr + "/debug/varz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, series+" "); ok {
			return v
		}
	}
	return ""
}

// TestConfigAppliedLive (relayctl only: derper has no config file) edits
// a running relay's config file: the per-client rate limit applies to an
// already connected Tailscale client, a restart-only change is reported
// pending in the metric and in `relayctl config show`, and a broken edit
// keeps the last good settings.
func TestConfigAppliedLive(t *testing.T) {
	if !serverSelected(relayctlServer) {
		t.Skip("relayctl not selected")
	}
	t.Parallel()
	bin := binaryFor(t, relayctlServer)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "relayctl.yaml")
	keyFile := filepath.Join(dir, "key.json")
	tcpPort, udpPort := freePorts(t)
	writeCfg := func(body string) {
		if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeCfg("stun-port: " + portString(udpPort) + "\n")
	addr := "127.0.0.1:" + portString(tcpPort)
	p := startProcess(t, "relayctl", bin, nil, "serve", "--config", cfg, "--certmode", "none",
		"--addr", addr, "--key-file", keyFile, "--log-format", "json")
	p.waitLog(t, 15*time.Second, `"relay listening"`)
	s := &server{kind: relayctlServer, httpAddr: addr, logs: p.logs, exited: p.exited}
	a, b := connectPeer(t, s), connectPeer(t, s)
	exchange(t, a, b)

	// Tighten the rate limit in the file; the connected client is held to it.
	writeCfg("stun-port: " + portString(udpPort) + "\nper-client-rate-limit: 100000\n")
	waitUntil(t, 10*time.Second, "rate limit applied", func() error {
		if v := scrape(t, addr, "derp_rate_limit_per_client_bytes_per_second"); v != "100000" {
			return errorf("limit is %q", v)
		}
		return nil
	})
	pkt := make([]byte, 60000)
	start := time.Now()
	for range 5 {
		a.send(t, b.pub, pkt)
	}
	for range 5 {
		b.expectPacket(t, a.pub, pkt)
	}
	// 300 kB at 100 kB/s after a one-frame burst: at least 2.3 s.
	if el := time.Since(start); el < 2*time.Second {
		t.Errorf("5×60 kB under a 100 kB/s limit took only %v", el)
	}
	if scrape(t, addr, "derp_rate_limit_per_client_waited") == "0" {
		t.Error("no waits counted after the live change")
	}

	// A restart-only change: reported, not applied.
	writeCfg("stun-port: " + portString(udpPort) + "\nper-client-rate-limit: 100000\nhttp-port: 8081\n")
	waitUntil(t, 10*time.Second, "pending restart reported", func() error {
		if v := scrape(t, addr, "relayctl_config_pending_restart"); v != "1" {
			return errorf("pending is %q", v)
		}
		return nil
	})
	out, err := exec.Command(bin, "config", "show", "--json", "--config", cfg, "--certmode", "none", "--addr", addr, "--key-file", keyFile).Output()
	if err != nil {
		t.Fatalf("config show: %v", err)
	}
	var entries []struct {
		Name           string `json:"name"`
		Value          string `json:"value"`
		Source         string `json:"source"`
		PendingRestart bool   `json:"pending_restart"`
	}
	if err := json.Unmarshal(out, &entries); err != nil {
		t.Fatalf("config show JSON: %v\n%s", err, out)
	}
	for _, e := range entries {
		if e.Name == "http-port" && (!e.PendingRestart || e.Source != "file" || e.Value != "8081") {
			t.Errorf("config show: %+v, want http-port 8081 from file, pending restart", e)
		}
		if e.Name == "per-client-rate-limit" && e.PendingRestart {
			t.Errorf("a live setting shown pending: %+v", e)
		}
	}

	// A broken file is rejected; the last good settings stay in force.
	writeCfg("per-client-rate-limit: [oops\n")
	p.waitLog(t, 10*time.Second, "new configuration rejected")
	if v := scrape(t, addr, "derp_rate_limit_per_client_bytes_per_second"); v != "100000" {
		t.Errorf("after a broken file the limit is %q, want the last good 100000", v)
	}
	exchange(t, a, b)
}

func errorf(format string, args ...any) error {
	return fmt.Errorf(format, args...)
}
