package cmd

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/relayctl/relayctl/config/configtest"
	"github.com/relayctl/relayctl/internal/certs"
	"github.com/relayctl/relayctl/internal/derpmap"
	"github.com/relayctl/relayctl/internal/testcert"
)

func readLeaf(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatalf("%s: no PEM", path)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCertgen(t *testing.T) {
	tests := []struct {
		name      string
		args      []string
		file      string // base name of the files
		wantNode  derpmap.DERPNode
		wantHosts []string
	}{
		{
			name:      "ipv4",
			args:      []string{"--ip", "203.0.113.7"},
			file:      "203.0.113.7",
			wantNode:  derpmap.DERPNode{Name: "900a", RegionID: 900, HostName: "203.0.113.7", IPv4: "203.0.113.7", STUNPort: 3478, DERPPort: 443},
			wantHosts: []string{"203.0.113.7"},
		},
		{
			name:      "ip_and_name",
			args:      []string{"--ip", "127.0.0.1", "--hostname", "LocalHost.", "--region-id", "901", "--region-code", "lab", "--node-name", "lab1", "--derp-port", "8443", "--stun-port", "-1"},
			file:      "localhost",
			wantNode:  derpmap.DERPNode{Name: "lab1", RegionID: 901, HostName: "localhost", IPv4: "127.0.0.1", STUNPort: -1, DERPPort: 8443},
			wantHosts: []string{"localhost", "127.0.0.1"},
		},
		{
			name:      "ipv6",
			args:      []string{"--ip", "2001:db8::1"},
			file:      "2001db81",
			wantNode:  derpmap.DERPNode{Name: "900a", RegionID: 900, HostName: "2001:db8::1", IPv6: "2001:db8::1", STUNPort: 3478, DERPPort: 443},
			wantHosts: []string{"2001:db8::1"},
		},
		{
			name:      "hostname_same_as_ip",
			args:      []string{"--ip", "127.0.0.1", "--hostname", "127.0.0.1"},
			file:      "127.0.0.1",
			wantNode:  derpmap.DERPNode{Name: "900a", RegionID: 900, HostName: "127.0.0.1", IPv4: "127.0.0.1", STUNPort: 3478, DERPPort: 443},
			wantHosts: []string{"127.0.0.1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "certs")
			stdout, stderr, code := runCLI(t, append([]string{"certgen", "--certdir", dir}, tt.args...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			crt := filepath.Join(dir, tt.file+".crt")
			key := filepath.Join(dir, tt.file+".key")
			testcert.CheckFileModes(t, dir, crt, key)
			if _, err := tls.LoadX509KeyPair(crt, key); err != nil {
				t.Fatalf("written pair does not load: %v", err)
			}
			leaf := readLeaf(t, crt)
			for _, h := range tt.wantHosts {
				if err := leaf.VerifyHostname(h); err != nil {
					t.Errorf("certificate does not cover %s: %v", h, err)
				}
			}

			var dm derpmap.DERPMap
			if err := json.Unmarshal([]byte(stdout), &dm); err != nil {
				t.Fatalf("stdout is not a DERP map: %v\n%s", err, stdout)
			}
			if len(dm.Regions) != 1 {
				t.Fatalf("%d regions, want 1", len(dm.Regions))
			}
			region := dm.Regions[tt.wantNode.RegionID]
			if region == nil || region.RegionID != tt.wantNode.RegionID || len(region.Nodes) != 1 {
				t.Fatalf("region %+v, want ID %d with one node", region, tt.wantNode.RegionID)
			}
			want := tt.wantNode
			want.CertName = certs.CertName(leaf.Raw)
			if got := *region.Nodes[0]; got != want {
				t.Fatalf("node %+v\nwant %+v", got, want)
			}
			for _, hint := range []string{crt, key, want.CertName, "--certmode manual"} {
				if !strings.Contains(stderr, hint) {
					t.Errorf("stderr lacks %q:\n%s", hint, stderr)
				}
			}
			if strings.Contains(stdout, "Wrote") {
				t.Error("human hints on stdout")
			}
		})
	}
}

func TestCertgenOverwrite(t *testing.T) {
	dir := t.TempDir()
	if _, stderr, code := runCLI(t, "certgen", "--ip", "127.0.0.1", "--certdir", dir); code != 0 {
		t.Fatalf("first run: exit %d: %s", code, stderr)
	}
	crt := filepath.Join(dir, "127.0.0.1.crt")
	first := certs.CertName(readLeaf(t, crt).Raw)

	stdout, stderr, code := runCLI(t, "certgen", "--ip", "127.0.0.1", "--certdir", dir)
	if code != 1 {
		t.Fatalf("second run without --force: exit %d, want 1", code)
	}
	if !strings.Contains(stderr, crt) || !strings.Contains(stderr, "--force") {
		t.Fatalf("refusal %q should name %s and --force", stderr, crt)
	}
	if stdout != "" {
		t.Fatalf("refusal printed a DERP map: %s", stdout)
	}
	if got := certs.CertName(readLeaf(t, crt).Raw); got != first {
		t.Fatal("refused run changed the certificate")
	}

	stdout, stderr, code = runCLI(t, "certgen", "--ip", "127.0.0.1", "--certdir", dir, "--force")
	if code != 0 {
		t.Fatalf("--force: exit %d: %s", code, stderr)
	}
	second := certs.CertName(readLeaf(t, crt).Raw)
	if second == first || !strings.Contains(stdout, second) {
		t.Fatalf("--force: pin %s (was %s), stdout %s", second, first, stdout)
	}
}

func TestCertgenDefaultCertDir(t *testing.T) {
	state := t.TempDir()
	t.Setenv("STATE_DIRECTORY", state)
	if _, stderr, code := runCLI(t, "certgen", "--ip", "127.0.0.1"); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(state, "certs", "127.0.0.1.crt")); err != nil {
		t.Fatalf("no certificate in <state>/certs: %v", err)
	}
}

func TestCertgenUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string // the flag the message must name
	}{
		{"no_ip", nil, "--ip"},
		{"bad_ip", []string{"--ip", "300.1.1.1"}, "--ip"},
		{"ip_with_zone", []string{"--ip", "fe80::1%eth0"}, "--ip"},
		{"hostname_other_ip", []string{"--ip", "127.0.0.1", "--hostname", "10.0.0.1"}, "--hostname"},
		{"hostname_not_dns", []string{"--ip", "127.0.0.1", "--hostname", "bad_name"}, "--hostname"},
		{"region_id", []string{"--ip", "127.0.0.1", "--region-id", "0"}, "--region-id"},
		{"derp_port", []string{"--ip", "127.0.0.1", "--derp-port", "70000"}, "--derp-port"},
		{"stun_port", []string{"--ip", "127.0.0.1", "--stun-port", "0"}, "--stun-port"},
		{"days", []string{"--ip", "127.0.0.1", "--days", "0"}, "--days"},
		{"unspecified_v4", []string{"--ip", "0.0.0.0"}, "--ip 0.0.0.0: the unspecified address"},
		{"unspecified_v6", []string{"--ip", "::"}, "--ip ::: the unspecified address"},
		{"multicast", []string{"--ip", "224.0.0.1"}, "multicast"},
		{"multicast_v6", []string{"--ip", "ff02::1"}, "multicast"},
		{"broadcast", []string{"--ip", "255.255.255.255"}, "broadcast"},
		{"argument", []string{"--ip", "127.0.0.1", "extra"}, "extra"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			wantUsageError(t, tt.want, append([]string{"certgen", "--certdir", dir}, tt.args...)...)
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("usage error left %d files", len(entries))
			}
		})
	}
}

// TestCertgenSuggestsAServeThatReproducesTheMap: running the serve command
// certgen suggests prints the same DERP map certgen printed: ports,
// region and node name included.
func TestCertgenSuggestsAServeThatReproducesTheMap(t *testing.T) {
	dir := configtest.Isolate(t)
	derpPort, stunPort := freePort(t, "tcp"), freePort(t, "udp")
	certDir := filepath.Join(dir, "certs")
	stdout, stderr, code := runCLI(t, "certgen", "--ip", "127.0.0.1", "--derp-port", strconv.Itoa(derpPort),
		"--stun-port", strconv.Itoa(stunPort), "--region-id", "905", "--certdir", certDir)
	if code != 0 {
		t.Fatalf("certgen exit %d: %s", code, stderr)
	}
	_, cmdLine, ok := strings.Cut(stderr, "Serve it with:  ")
	cmdLine, _, _ = strings.Cut(cmdLine, "\n")
	args := strings.Fields(cmdLine)
	if !ok || len(args) < 2 || args[0] != "relayctl" {
		t.Fatalf("no serve command in:\n%s", stderr)
	}
	// The key file and port 80 do not show in the map.
	args = append(args[1:], "--key-file", filepath.Join(dir, "k.json"), "--http-port", "-1")
	code, _, serveErr := runRelayctl(t, "relay listening", args...)
	if code != 0 {
		t.Fatalf("%s: exit %d:\n%s", cmdLine, code, serveErr)
	}
	var want derpmap.DERPMap
	if err := json.Unmarshal([]byte(stdout), &want); err != nil {
		t.Fatal(err)
	}
	got := printedMap(t, serveErr)
	wantJSON, _ := json.Marshal(want)
	gotJSON, _ := json.Marshal(got)
	if !bytes.Equal(wantJSON, gotJSON) {
		t.Errorf("%s printed\n%s\ncertgen printed\n%s", cmdLine, gotJSON, wantJSON)
	}
}
