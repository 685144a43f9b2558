package tlsserve

import (
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/relayctl/relayctl/internal/certs"
	"github.com/relayctl/relayctl/internal/derpmap"
	"github.com/relayctl/relayctl/internal/testcert"
)

func TestManualGeneratesSelfSignedForIP(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	var snippets [][]byte
	m, err := NewManualWith(ManualOptions{
		CertDir:      dir,
		Hostname:     "127.0.0.1",
		OnSelfSigned: func(s []byte) { snippets = append(snippets, s) },
		Node:         derpmap.SingleNode{DERPPort: 8443, STUNPort: 3478},
	})
	if err != nil {
		t.Fatal(err)
	}
	crt, key := certs.Paths(dir, "127.0.0.1")
	testcert.CheckFileModes(t, dir, crt, key)
	certPEM, err := os.ReadFile(crt)
	if err != nil {
		t.Fatal(err)
	}
	pin := pinOf(t, certPEM)
	if m.CertName() != pin {
		t.Fatalf("CertName %s, want the file's %s", m.CertName(), pin)
	}
	if len(snippets) != 1 {
		t.Fatalf("OnSelfSigned called %d times, want once", len(snippets))
	}
	var dm derpmap.DERPMap
	if err := json.Unmarshal(snippets[0], &dm); err != nil {
		t.Fatalf("snippet %s: %v", snippets[0], err)
	}
	node := dm.Regions[900].Nodes[0]
	want := derpmap.DERPNode{Name: "900a", RegionID: 900, HostName: "127.0.0.1", CertName: pin, IPv4: "127.0.0.1", STUNPort: 3478, DERPPort: 8443}
	if *node != want {
		t.Fatalf("snippet node %+v, want %+v", *node, want)
	}

	// A restart serves the same certificate and repeats the pin.
	m2, err := NewManual(dir, "127.0.0.1", nil, func(s []byte) { snippets = append(snippets, s) })
	if err != nil {
		t.Fatal(err)
	}
	if m2.CertName() != pin || len(snippets) != 2 {
		t.Fatalf("restart: CertName %s (want %s), %d snippets (want 2)", m2.CertName(), pin, len(snippets))
	}
}

func TestManualNoSnippetForCASignedOrDNS(t *testing.T) {
	dir := t.TempDir()
	certPEM, keyPEM := makePair(t, testcert.Spec{DNS: []string{"relay.test"}})
	writeFiles(t, dir, "relay.test", certPEM, keyPEM)
	called := false
	if _, err := NewManual(dir, "relay.test", nil, func([]byte) { called = true }); err != nil {
		t.Fatal(err)
	}
	if called {
		t.Fatal("OnSelfSigned called for a DNS host name")
	}
}

func TestManualErrors(t *testing.T) {
	ip := netip.MustParseAddr("127.0.0.1")
	tests := []struct {
		name     string
		hostname string
		setup    func(t *testing.T, dir string)
		want     []string // substrings of the error
	}{
		{
			name:     "dns_name_missing_files",
			hostname: "relay.test",
			setup:    func(*testing.T, string) {},
			want:     []string{"relay.test.crt", "relay.test.key", "relayctl certgen"},
		},
		{
			name:     "ip_with_only_certificate",
			hostname: "127.0.0.1",
			setup: func(t *testing.T, dir string) {
				crt, _ := certs.Paths(dir, "127.0.0.1")
				certPEM, _ := makePair(t, testcert.Spec{IPs: []netip.Addr{ip}})
				os.WriteFile(crt, certPEM, 0o644)
			},
			want: []string{"127.0.0.1.key"},
		},
		{
			name:     "mismatched_key",
			hostname: "127.0.0.1",
			setup: func(t *testing.T, dir string) {
				certPEM, _ := makePair(t, testcert.Spec{IPs: []netip.Addr{ip}})
				_, otherKey := makePair(t, testcert.Spec{IPs: []netip.Addr{ip}})
				writeFiles(t, dir, "127.0.0.1", certPEM, otherKey)
			},
			want: []string{"127.0.0.1.crt", "does not match"},
		},
		{
			name:     "hostname_not_covered",
			hostname: "relay.test",
			setup: func(t *testing.T, dir string) {
				certPEM, keyPEM := makePair(t, testcert.Spec{DNS: []string{"other.test"}})
				writeFiles(t, dir, "relay.test", certPEM, keyPEM)
			},
			want: []string{"does not cover", `"relay.test"`},
		},
		{
			name:     "ip_not_covered",
			hostname: "127.0.0.2",
			setup: func(t *testing.T, dir string) {
				certPEM, keyPEM := makePair(t, testcert.Spec{IPs: []netip.Addr{ip}})
				writeFiles(t, dir, "127.0.0.2", certPEM, keyPEM)
			},
			want: []string{"does not cover"},
		},
		{
			name:     "expired",
			hostname: "relay.test",
			setup: func(t *testing.T, dir string) {
				certPEM, keyPEM := makePair(t, testcert.Spec{DNS: []string{"relay.test"}, NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)})
				writeFiles(t, dir, "relay.test", certPEM, keyPEM)
			},
			want: []string{"expired"},
		},
		{
			name:     "not_pem",
			hostname: "relay.test",
			setup: func(t *testing.T, dir string) {
				writeFiles(t, dir, "relay.test", []byte("hello"), []byte("world"))
			},
			want: []string{"relay.test.crt"},
		},
		{
			name:     "key_group_readable",
			hostname: "relay.test",
			setup: func(t *testing.T, dir string) {
				certPEM, keyPEM := makePair(t, testcert.Spec{DNS: []string{"relay.test"}})
				writeFiles(t, dir, "relay.test", certPEM, keyPEM)
				_, key := certs.Paths(dir, "relay.test")
				if err := os.Chmod(key, 0o640); err != nil {
					t.Fatal(err)
				}
			},
			want: []string{"TLS private key", "relay.test.key", "mode 0640", "chmod 600"},
		},
		{
			name:     "key_world_readable",
			hostname: "relay.test",
			setup: func(t *testing.T, dir string) {
				certPEM, keyPEM := makePair(t, testcert.Spec{DNS: []string{"relay.test"}})
				writeFiles(t, dir, "relay.test", certPEM, keyPEM)
				_, key := certs.Paths(dir, "relay.test")
				if err := os.Chmod(key, 0o644); err != nil {
					t.Fatal(err)
				}
			},
			want: []string{"TLS private key", "relay.test.key", "mode 0644", "chmod 600"},
		},
		{
			name:     "no_hostname",
			hostname: ":::",
			setup:    func(*testing.T, string) {},
			want:     []string{"host name"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tt.setup(t, dir)
			_, err := NewManual(dir, tt.hostname, nil, nil)
			if err == nil {
				t.Fatal("want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestManualSNI(t *testing.T) {
	tests := []struct {
		name       string
		hostname   string
		serverName string
		ok         bool
	}{
		{"dns_name_matches", "relay.test", "relay.test", true},
		{"dns_name_case_and_dot", "Relay.Test.", "relay.TEST", true},
		{"dns_name_other_sni", "relay.test", "other.test", false},
		{"dns_name_no_sni", "relay.test", "", false},
		{"ip_no_sni", "127.0.0.1", "", true},
		{"ip_any_sni", "127.0.0.1", "whatever.test", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			host := strings.ToLower(strings.TrimSuffix(tt.hostname, "."))
			certPEM, keyPEM := makePair(t, testcert.Spec{DNS: []string{"relay.test"}, IPs: []netip.Addr{netip.MustParseAddr("127.0.0.1")}})
			writeFiles(t, dir, host, certPEM, keyPEM)
			m, err := NewManual(dir, tt.hostname, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			addr := startEchoTLS(t, ServerConfig(m.GetCertificate))
			c, err := dialTLS(t, addr, tt.serverName, 0)
			if tt.ok != (err == nil) {
				t.Fatalf("handshake error %v, want ok=%v", err, tt.ok)
			}
			if tt.ok && leafPin(t, c) != pinOf(t, certPEM) {
				t.Fatal("server presented another certificate")
			}
		})
	}
}

// TestManualRotation replaces the files under a connected client: that
// connection keeps working, new handshakes get the new certificate, and a
// broken replacement leaves the last good certificate in force.
func TestManualRotation(t *testing.T) {
	ip := netip.MustParseAddr("127.0.0.1")
	replacements := []struct {
		name  string
		write func(t *testing.T, dir string, certPEM, keyPEM []byte)
	}{
		{"rename_into_place", func(t *testing.T, dir string, certPEM, keyPEM []byte) {
			writeFiles(t, dir, "127.0.0.1", certPEM, keyPEM)
		}},
		{"rewrite_in_place", func(t *testing.T, dir string, certPEM, keyPEM []byte) {
			crt, key := certs.Paths(dir, "127.0.0.1")
			if err := os.WriteFile(key, keyPEM, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(crt, certPEM, 0o644); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, r := range replacements {
		t.Run(r.name, func(t *testing.T) {
			dir := t.TempDir()
			var logs logBuffer
			cert1, key1 := makePair(t, testcert.Spec{IPs: []netip.Addr{ip}})
			writeFiles(t, dir, "127.0.0.1", cert1, key1)
			m, err := NewManual(dir, "127.0.0.1", newLogger(&logs), nil)
			if err != nil {
				t.Fatal(err)
			}
			m.checkEvery = 0 // look at the files on every handshake
			addr, _ := startMetaEchoTLS(t, m.GetCertificate)

			old, err := dialTLS(t, addr, "", 0)
			if err != nil {
				t.Fatal(err)
			}
			if leafPin(t, old) != pinOf(t, cert1) {
				t.Fatal("first handshake did not get the first certificate")
			}
			echo(t, old, "before")

			cert2, key2 := makePair(t, testcert.Spec{IPs: []netip.Addr{ip}})
			r.write(t, dir, cert2, key2)
			fresh, err := dialTLS(t, addr, "", 0)
			if err != nil {
				t.Fatal(err)
			}
			if got := leafPin(t, fresh); got != pinOf(t, cert2) {
				t.Fatalf("handshake after rotation got %s, want the new %s", got, pinOf(t, cert2))
			}
			if m.CertName() != pinOf(t, cert2) {
				t.Fatalf("CertName %s after rotation, want %s", m.CertName(), pinOf(t, cert2))
			}
			echo(t, old, "after rotation")
			echo(t, fresh, "new connection")

			// A broken pair (the key of another certificate) is refused.
			cert3, _ := makePair(t, testcert.Spec{IPs: []netip.Addr{ip}})
			r.write(t, dir, cert3, key1)
			for i := range 3 {
				c, err := dialTLS(t, addr, "", 0)
				if err != nil {
					t.Fatalf("handshake %d with a broken pair on disk: %v", i, err)
				}
				if got := leafPin(t, c); got != pinOf(t, cert2) {
					t.Fatalf("handshake %d with a broken pair on disk got %s, want the last good %s", i, got, pinOf(t, cert2))
				}
			}
			if n := logs.count("do not load"); n != 1 {
				t.Fatalf("broken pair logged %d times, want once:\n%s", n, logs.String())
			}
			echo(t, old, "after a broken rotation")
			echo(t, fresh, "after a broken rotation")
		})
	}
}

func TestManualReloadsAtMostOncePerInterval(t *testing.T) {
	ip := netip.MustParseAddr("127.0.0.1")
	dir := t.TempDir()
	cert1, key1 := makePair(t, testcert.Spec{IPs: []netip.Addr{ip}})
	writeFiles(t, dir, "127.0.0.1", cert1, key1)
	m, err := NewManual(dir, "127.0.0.1", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	m.now = func() time.Time { return now }
	m.lastCheck = now

	cert2, key2 := makePair(t, testcert.Spec{IPs: []netip.Addr{ip}})
	writeFiles(t, dir, "127.0.0.1", cert2, key2)
	hello := &tlsHello
	now = now.Add(reloadCheckInterval / 2)
	if _, err := m.GetCertificate(hello); err != nil {
		t.Fatal(err)
	}
	if m.CertName() != pinOf(t, cert1) {
		t.Fatal("reloaded before the interval passed")
	}
	now = now.Add(reloadCheckInterval / 2)
	if _, err := m.GetCertificate(hello); err != nil {
		t.Fatal(err)
	}
	if m.CertName() != pinOf(t, cert2) {
		t.Fatal("not reloaded once the interval passed")
	}
}

func TestManualKeepsCertificateWhenFilesVanish(t *testing.T) {
	dir := t.TempDir()
	var logs logBuffer
	m, err := NewManual(dir, "127.0.0.1", newLogger(&logs), nil)
	if err != nil {
		t.Fatal(err)
	}
	m.checkEvery = 0
	pin := m.CertName()
	crt, _ := certs.Paths(dir, "127.0.0.1")
	if err := os.Remove(crt); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		c, err := m.GetCertificate(&tlsHello)
		if err != nil || c == nil {
			t.Fatalf("GetCertificate after the file vanished: %v", err)
		}
	}
	if m.CertName() != pin {
		t.Fatal("certificate changed after its file vanished")
	}
	if n := logs.count("do not load"); n != 1 {
		t.Fatalf("vanished file logged %d times, want once:\n%s", n, logs.String())
	}
}
