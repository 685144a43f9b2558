package interop

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestACMEExternalAccountBinding runs Pebble requiring External Account
// Binding, as Google Trust Services (derper's -certmode gcp) and ZeroSSL
// do: without a binding serve refuses to start and says what to set; with
// one (the HMAC key in standard base64, as gcloud prints it and derper
// takes it) it gets a certificate.
func TestACMEExternalAccountBinding(t *testing.T) {
	if !serverSelected(relayctlServer) {
		t.Skip("relayctl not selected")
	}
	t.Parallel()
	const kid = "kid-1"
	const macKey = "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W" // base64url, Pebble's form
	addrPort, _ := freePorts(t)
	httpPort, _ := freePorts(t)
	ca := startPebbleWith(t, httpPort, addrPort, map[string]any{
		"externalAccountBindingRequired": true,
		"externalAccountMACKeys":         map[string]string{kid: macKey},
	})

	t.Run("without-binding", func(t *testing.T) {
		_, stunPort := freePorts(t)
		dir := t.TempDir()
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, binaryFor(t, relayctlServer), "serve", "--certmode", "letsencrypt",
			"--acme-directory-url", ca.dirURL, "--hostname", "relay.test",
			"--addr", "127.0.0.1:"+portString(addrPort), "--http-port", portString(httpPort),
			"--stun-port", portString(stunPort), "--certdir", filepath.Join(dir, "certs"),
			"--key-file", filepath.Join(dir, "key.json"))
		cmd.Env = append(cmd.Environ(), "SSL_CERT_FILE="+ca.trustFile)
		out, err := cmd.CombinedOutput()
		if code := exitCode(err); code != 2 {
			t.Fatalf("exit %d (%v), want 2:\n%s", code, err, out)
		}
		if !strings.Contains(string(out), "requires External Account Binding: set --acme-eab-kid and --acme-eab-key") {
			t.Errorf("the error does not say what to set:\n%s", out)
		}
	})

	t.Run("with-binding", func(t *testing.T) {
		raw, err := base64.RawURLEncoding.DecodeString(macKey)
		if err != nil {
			t.Fatal(err)
		}
		startACMERelay(t, ca, addrPort, httpPort, "--hostname", "relay.test",
			"--acme-eab-kid", kid, "--acme-eab-key", base64.StdEncoding.EncodeToString(raw))
		addr := "127.0.0.1:" + portString(addrPort)
		pool := ca.issuerPool(t)
		chain := waitForIssuedCert(t, addr, "relay.test", pool, "")
		if len(chain[0].DNSNames) != 1 || chain[0].DNSNames[0] != "relay.test" {
			t.Errorf("leaf names %v, want [relay.test]", chain[0].DNSNames)
		}
		checkDERPOverTLS(t, "https://"+addr+"/derp", &tls.Config{ServerName: "relay.test", RootCAs: pool})
	})
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return -1
}
