package interop

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"tailscale.com/net/stun"
	"tailscale.com/types/key"

	"github.com/relayctl/relayctl/internal/derperflags"
)

// derperUsageFlag is one line of Go's flag usage: "  -name type" (no type
// for a boolean flag).
var derperUsageFlag = regexp.MustCompile(`^  -(\S+)(?: (\S+))?`)

// TestDerperFlagTableCoversDerper runs the real derper's -h and requires
// an entry in relayctl's migration table for each flag it lists (with the
// same kind, boolean or valued), and no entry for a flag derper does not
// have: a new derper release cannot slip by unanswered.
func TestDerperFlagTableCoversDerper(t *testing.T) {
	if !serverSelected(derperServer) {
		t.Skip("derper not selected")
	}
	out, _ := exec.Command(binaryFor(t, derperServer), "-h").CombinedOutput() // -h exits 2
	listed := map[string]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		m := derperUsageFlag.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		name, isBool := m[1], m[2] == ""
		listed[name] = true
		f, ok := derperflags.Lookup(name)
		switch {
		case !ok:
			t.Errorf("derper has -%s, which the migration table (internal/derperflags) does not answer", name)
		case f.IsBool() != isBool:
			t.Errorf("derper's -%s boolean=%v, the table says %v", name, isBool, f.IsBool())
		}
	}
	if len(listed) < 30 {
		t.Fatalf("parsed only %d flags from derper -h:\n%s", len(listed), out)
	}
	for _, f := range derperflags.Flags {
		if !listed[f.Name] {
			t.Errorf("the migration table answers -%s, which derper -h does not list", f.Name)
		}
	}
}

// TestDerperKeyFileReuse: a key file written by the real derper (-c) is
// used as is by relayctl serve --key-file, so the node keeps its key.
func TestDerperKeyFileReuse(t *testing.T) {
	if !serverSelected(derperServer) || !serverSelected(relayctlServer) {
		t.Skip("needs both derper and relayctl")
	}
	keyFile := filepath.Join(t.TempDir(), "derper.key")
	d := startServer(t, derperServer, "-c", keyFile)
	derperKey := serverKeyOf(t, d)
	d.stopping = true
	d.proc.Kill()
	<-d.exited

	b, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	var f struct{ PrivateKey string }
	if err := json.Unmarshal(b, &f); err != nil || !strings.HasPrefix(f.PrivateKey, "privkey:") {
		t.Fatalf("derper's key file %q: %v", b, err)
	}

	r := startServer(t, relayctlServer, "--key-file", keyFile)
	if got := serverKeyOf(t, r); got != derperKey {
		t.Fatalf("relayctl with derper's key file serves key %s, derper served %s", got.ShortString(), derperKey.ShortString())
	}
	after, _ := os.ReadFile(keyFile)
	if string(after) != string(b) {
		t.Errorf("relayctl rewrote derper's key file:\n%s\nbecame\n%s", b, after)
	}
}

// serverKeyOf connects with Tailscale's client and returns the server key.
func serverKeyOf(t *testing.T, s *server) key.NodePublic {
	t.Helper()
	c, err := connectDERP(t.Context(), key.NewNode(), s.url("/derp"), 10*time.Second)
	if err != nil {
		t.Fatalf("%s: connect: %v", s.kind, err)
	}
	defer c.Close()
	return c.ServerPublicKey()
}

// TestDERPDisabled: with -derp=false (--derp=false) both servers refuse
// DERP with derper's 404 but keep STUN, the probe endpoints and
// /bootstrap-dns.
func TestDERPDisabled(t *testing.T) {
	for _, k := range selectedKinds() {
		t.Run(string(k), func(t *testing.T) {
			t.Parallel()
			flag := "--derp=false"
			if k == derperServer {
				flag = "-derp=false"
			}
			s := startServer(t, k, flag) // ready: /derp/probe answers 200

			req, _ := http.NewRequestWithContext(t.Context(), "GET", s.url("/derp"), nil)
			req.Header.Set("Upgrade", "DERP")
			req.Header.Set("Connection", "Upgrade")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(body), "derp server disabled") {
				t.Errorf("GET /derp (upgrade): %s %q, want 404 derp server disabled", resp.Status, body)
			}

			if c, err := connectDERP(t.Context(), key.NewNode(), s.url("/derp"), 5*time.Second); err == nil {
				c.Close()
				t.Error("Tailscale's client connected to a relay with DERP disabled")
			}

			for _, path := range []string{"/derp/latency-check", "/bootstrap-dns", "/generate_204"} {
				resp, err := http.Get(s.url(path))
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode >= 300 {
					t.Errorf("GET %s: %s", path, resp.Status)
				}
			}

			uc, self := dialSTUN(t, s)
			for try := 1; ; try++ {
				tx := stun.NewTxID()
				uc.Write(stun.Request(tx))
				reply, err := readSTUN(uc, stunReplyTimeout)
				if err != nil {
					if try < stunTries {
						continue
					}
					t.Fatalf("no STUN reply with DERP disabled: %v", err)
				}
				if gotTx, addr, err := stun.ParseResponse(reply); err == nil && gotTx == tx {
					if addr != self {
						t.Errorf("STUN mapped %v, want %v", addr, self)
					}
					break
				}
			}
		})
	}
}

// TestRateConfigLive: derper's --rate-config file sets the per-client rate
// limit of a running relayctl and is re-read when it changes; a broken
// edit keeps the last good limit.
func TestRateConfigLive(t *testing.T) {
	if !serverSelected(relayctlServer) {
		t.Skip("relayctl not selected")
	}
	t.Parallel()
	rateFile := filepath.Join(t.TempDir(), "rate.json")
	write := func(body string) {
		if err := os.WriteFile(rateFile, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(`{"PerClientRateLimitBytesPerSec": 100000}`)
	s := startServer(t, relayctlServer, "--rate-config", rateFile, "--per-client-rate-limit", "5")
	if v := scrape(t, s.httpAddr, "derp_rate_limit_per_client_bytes_per_second"); v != "100000" {
		t.Fatalf("rate limit %q at start, want the file's 100000 over the flag's 5", v)
	}
	write(`{"PerClientRateLimitBytesPerSec": 200000, "PerClientRateBurstBytes": 300000}`)
	waitUntil(t, 10*time.Second, "the edited rate config applied", func() error {
		if v := scrape(t, s.httpAddr, "derp_rate_limit_per_client_bytes_per_second"); v != "200000" {
			return errorf("rate limit %s", v)
		}
		return nil
	})
	write(`{"PerClientRateLimitBytesPerSec": "fast"}`)
	waitUntil(t, 10*time.Second, "the broken edit rejected", func() error {
		if !strings.Contains(s.logs.String(), "new configuration rejected") {
			return errorf("no rejection logged")
		}
		return nil
	})
	if v := scrape(t, s.httpAddr, "derp_rate_limit_per_client_bytes_per_second"); v != "200000" {
		t.Errorf("after a broken edit the rate limit is %s, want the last good 200000", v)
	}
}
