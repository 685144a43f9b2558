package interop

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/relayctl/relayctl/relay/client"
	ourkey "github.com/relayctl/relayctl/relay/key"
)

// ACME against a real ACME CA: Let's Encrypt's Pebble (built from the
// module proxy), with its DNS test server answering 127.0.0.1 for every
// name. derper cannot be pointed at another CA, so these are relayctl-only.

const pebbleModule = "github.com/letsencrypt/pebble/v2"

type pebbleCA struct {
	dirURL  string
	mgmtURL string
	// trustFile is the CA file for Pebble's own HTTPS API.
	trustFile string
	apiClient *http.Client
}

// startPebble runs Pebble validating HTTP-01 on httpPort and TLS-ALPN-01
// on tlsPort of whatever its DNS server resolves (always 127.0.0.1).
func startPebble(t *testing.T, httpPort, tlsPort int) *pebbleCA {
	t.Helper()
	return startPebbleWith(t, httpPort, tlsPort, nil)
}

// startPebbleWith is startPebble with more settings for Pebble's config
// (external account binding, for one).
func startPebbleWith(t *testing.T, httpPort, tlsPort int, extra map[string]any) *pebbleCA {
	t.Helper()
	pebbleBin := toolBinary(t, pebbleModule+"/cmd/pebble")
	dnsBin := toolBinary(t, pebbleModule+"/cmd/pebble-challtestsrv")
	certs := filepath.Join(moduleDir(t, pebbleModule), "test", "certs")

	dnsPort, _ := freePorts(t)
	mgmtDNS, _ := freePorts(t)
	dns := startProcess(t, "challtestsrv", dnsBin, nil,
		"-dnsserver", "127.0.0.1:"+portString(dnsPort), "-management", "127.0.0.1:"+portString(mgmtDNS),
		"-http01", "", "-https01", "", "-tlsalpn01", "", "-doh", "",
		"-defaultIPv4", "127.0.0.1", "-defaultIPv6", "")
	dns.waitLog(t, 10*time.Second, "Starting challenge servers")

	apiPort, _ := freePorts(t)
	mgmtPort, _ := freePorts(t)
	cfg := map[string]any{"pebble": map[string]any{
		"listenAddress":           "127.0.0.1:" + portString(apiPort),
		"managementListenAddress": "127.0.0.1:" + portString(mgmtPort),
		"certificate":             filepath.Join(certs, "localhost", "cert.pem"),
		"privateKey":              filepath.Join(certs, "localhost", "key.pem"),
		"httpPort":                httpPort,
		"tlsPort":                 tlsPort,
		"keyAlgorithm":            "ecdsa",
		"profiles": map[string]any{
			"default":    map[string]any{"description": "default", "validityPeriod": 7776000},
			"shortlived": map[string]any{"description": "six days", "validityPeriod": 518400},
		},
	}}
	for k, v := range extra {
		cfg["pebble"].(map[string]any)[k] = v
	}
	cfgPath := filepath.Join(t.TempDir(), "pebble.json")
	b, _ := json.Marshal(cfg)
	if err := os.WriteFile(cfgPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	startProcess(t, "pebble", pebbleBin, []string{"PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0"},
		"-config", cfgPath, "-dnsserver", "127.0.0.1:"+portString(dnsPort))

	ca := &pebbleCA{
		dirURL:    "https://127.0.0.1:" + portString(apiPort) + "/dir",
		mgmtURL:   "https://127.0.0.1:" + portString(mgmtPort),
		trustFile: filepath.Join(certs, "pebble.minica.pem"),
	}
	pool := x509.NewCertPool()
	pem, err := os.ReadFile(ca.trustFile)
	if err != nil {
		t.Fatal(err)
	}
	pool.AppendCertsFromPEM(pem)
	ca.apiClient = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	waitUntil(t, 15*time.Second, "pebble directory", func() error {
		resp, err := ca.apiClient.Get(ca.dirURL)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	})
	return ca
}

// issuerPool is the trust anchor for what this Pebble issues: its root,
// generated at start and served on the management API.
func (ca *pebbleCA) issuerPool(t *testing.T) *x509.CertPool {
	t.Helper()
	resp, err := ca.apiClient.Get(ca.mgmtURL + "/roots/0")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	pem, _ := io.ReadAll(resp.Body)
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("pebble root: no PEM in %q", pem)
	}
	return pool
}

// startACMERelay runs relayctl serve --certmode letsencrypt against ca.
func startACMERelay(t *testing.T, ca *pebbleCA, addrPort, httpPort int, extra ...string) *process {
	t.Helper()
	if !serverSelected(relayctlServer) {
		t.Skip("relayctl not selected")
	}
	_, stunPort := freePorts(t)
	dir := t.TempDir()
	args := append([]string{"serve", "--certmode", "letsencrypt",
		"--acme-directory-url", ca.dirURL, "--acme-email", "ops@example.com",
		"--addr", "127.0.0.1:" + portString(addrPort), "--http-port", portString(httpPort),
		"--stun-port", portString(stunPort), "--certdir", filepath.Join(dir, "certs"),
		"--key-file", filepath.Join(dir, "key.json"), "--log-format", "json"}, extra...)
	// The CA's API uses Pebble's test certificate: trusting it through
	// SSL_CERT_FILE is how an operator trusts a private CA too.
	p := startProcess(t, "relayctl", binaryFor(t, relayctlServer), []string{"SSL_CERT_FILE=" + ca.trustFile}, args...)
	p.waitLog(t, 15*time.Second, `"relay listening"`)
	return p
}

// waitForIssuedCert handshakes until the relay presents a certificate
// that verifies for serverName against pool, and returns the chain.
func waitForIssuedCert(t *testing.T, addr, serverName string, pool *x509.CertPool, verifyIP string) []*x509.Certificate {
	t.Helper()
	var chain []*x509.Certificate
	waitUntil(t, 60*time.Second, "certificate issued by the ACME CA", func() error {
		cfg := &tls.Config{ServerName: serverName, RootCAs: pool}
		if verifyIP != "" {
			// No SNI for an IP: verify the IP SAN ourselves.
			cfg = &tls.Config{InsecureSkipVerify: true, VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
				leaf, err := x509.ParseCertificate(raw[0])
				if err != nil {
					return err
				}
				inter := x509.NewCertPool()
				for _, r := range raw[1:] {
					if c, err := x509.ParseCertificate(r); err == nil && !strings.HasPrefix(c.Subject.CommonName, "derpkey") {
						inter.AddCert(c)
					}
				}
				_, err = leaf.Verify(x509.VerifyOptions{DNSName: verifyIP, Roots: pool, Intermediates: inter})
				return err
			}}
		}
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", addr, cfg)
		if err != nil {
			return err
		}
		defer conn.Close()
		chain = conn.ConnectionState().PeerCertificates
		return nil
	})
	return chain
}

// checkDERPOverTLS connects two of our clients through the relay with
// tlsConfig and exchanges a packet.
func checkDERPOverTLS(t *testing.T, url string, tlsConfig *tls.Config) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	dial := func() *client.Client {
		c, err := client.Dial(ctx, url, ourkey.NewNode(), client.Options{TLSConfig: tlsConfig})
		if err != nil {
			t.Fatalf("DERP over TLS: %v", err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	a, b := dial(), dial()
	if err := a.Send(b.PublicKey(), []byte("over acme tls")); err != nil {
		t.Fatal(err)
	}
	for {
		m, err := b.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if p, ok := m.(*client.ReceivedPacket); ok {
			if string(p.Data) != "over acme tls" {
				t.Fatalf("got %q", p.Data)
			}
			return
		}
	}
}

func lastIsMetaCert(chain []*x509.Certificate) bool {
	return len(chain) > 1 && strings.HasPrefix(chain[len(chain)-1].Subject.CommonName, "derpkey")
}

func TestACMEHostnameCertificate(t *testing.T) {
	t.Parallel()
	addrPort, _ := freePorts(t)
	httpPort, _ := freePorts(t)
	ca := startPebble(t, httpPort, addrPort)
	startACMERelay(t, ca, addrPort, httpPort, "--hostname", "relay.test")
	addr := "127.0.0.1:" + portString(addrPort)
	pool := ca.issuerPool(t)
	chain := waitForIssuedCert(t, addr, "relay.test", pool, "")
	if len(chain[0].DNSNames) != 1 || chain[0].DNSNames[0] != "relay.test" {
		t.Errorf("leaf names %v, want [relay.test]", chain[0].DNSNames)
	}
	if !lastIsMetaCert(chain) {
		t.Error("no derpkey metacert at the end of the chain")
	}
	tlsConfig := &tls.Config{ServerName: "relay.test", RootCAs: pool}
	checkDERPOverTLS(t, "https://"+addr+"/derp", tlsConfig)
}

func TestACMEIPCertificate(t *testing.T) {
	t.Parallel()
	addrPort, _ := freePorts(t)
	httpPort, _ := freePorts(t)
	ca := startPebble(t, httpPort, addrPort)
	relay := startACMERelay(t, ca, addrPort, httpPort, "--hostname", "127.0.0.1", "--acme-ip-certs")
	addr := "127.0.0.1:" + portString(addrPort)
	pool := ca.issuerPool(t)
	chain := waitForIssuedCert(t, addr, "", pool, "127.0.0.1")
	leaf := chain[0]
	if len(leaf.IPAddresses) != 1 || !leaf.IPAddresses[0].Equal(net.ParseIP("127.0.0.1")) {
		t.Errorf("leaf IPs %v, want [127.0.0.1]", leaf.IPAddresses)
	}
	if life := leaf.NotAfter.Sub(leaf.NotBefore); life > 7*24*time.Hour {
		t.Errorf("lifetime %v: the short-lived profile was not requested", life)
	}
	if !lastIsMetaCert(chain) {
		t.Error("no derpkey metacert at the end of the chain")
	}
	relay.waitLog(t, time.Second, "obtained ACME IP certificate")
	checkDERPOverTLS(t, "https://"+addr+"/derp", &tls.Config{InsecureSkipVerify: true})
}
