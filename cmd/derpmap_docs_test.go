package cmd

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/relayctl/relayctl/internal/certs"
	"github.com/relayctl/relayctl/internal/derpmap"
)

// TestFleetDocExample builds the inventory that docs/fleet.md shows first,
// in every format, so the documented format cannot drift from the parser.
func TestFleetDocExample(t *testing.T) {
	doc, err := os.ReadFile("../docs/fleet.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "```yaml\n")
	block, _, ok2 := strings.Cut(rest, "```\n")
	if !ok || !ok2 {
		t.Fatal("docs/fleet.md has no YAML block")
	}
	dir := t.TempDir()
	inv := filepath.Join(dir, "fleet.yaml")
	if err := os.WriteFile(inv, []byte(block), 0o600); err != nil {
		t.Fatal(err)
	}
	// The example pins nyc1 by a certificate file next to the inventory.
	certPEM, _, err := certs.SelfSigned(netip.MustParseAddr("198.51.100.20"), "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "certs"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "certs", "198.51.100.20.crt"), certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, format := range derpmap.Formats {
		stdout, stderr, code := runCLI(t, "derpmap", "build", inv, "--format", format)
		if code != 0 || stderr != "" {
			t.Errorf("build --format %s of the docs example: exit %d, stderr %q", format, code, stderr)
		}
		if !strings.Contains(stdout, "sgp-stun") {
			t.Errorf("build --format %s lacks a node:\n%s", format, stdout)
		}
	}
	parsed, err := derpmap.ParseInventory(inv, []byte(block))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]derpmap.Trust{"fra1": derpmap.TrustPublicCA, "fra2": derpmap.TrustPin, "nyc1": derpmap.TrustFile, "sgp1": derpmap.TrustPin, "sgp-stun": derpmap.TrustPublicCA}
	for _, n := range parsed.Nodes {
		if want[n.Node.Name] != n.Trust {
			t.Errorf("node %s: trust %v, want %v", n.Node.Name, n.Trust, want[n.Node.Name])
		}
	}
	if len(parsed.Nodes) != len(want) || len(parsed.Map.Regions) != 3 {
		t.Errorf("docs example: %d nodes, %d regions; want %d and 3", len(parsed.Nodes), len(parsed.Map.Regions), len(want))
	}
}
