package interop

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"tailscale.com/tailcfg"
)

// TestDerpprobeOnRelayctlRegion points Tailscale's own derpprobe at a
// meshed region of two relayctl nodes. Their certificates are trusted
// through SSL_CERT_FILE (as a private CA would be), so every probe class
// can pass: TLS, STUN, and DERP delivery on each node and across both
// ordered pairs (which needs mesh forwarding). derpprobe must exit 0.
func TestDerpprobeOnRelayctlRegion(t *testing.T) {
	if !serverSelected(relayctlServer) {
		t.Skip("relayctl not selected")
	}
	t.Parallel()
	a := newRegionNode(t, relayctlServer, "900a", "localhost")
	b := newRegionNode(t, relayctlServer, "900b", "localhost")
	roots := writeCertBundle(t, a, b)
	meshKey := writeMeshKey(t)
	for _, n := range []*regionNode{a, b} {
		n.meshKeyFile = meshKey
		n.meshWith = a.meshURL() + "," + b.meshURL()
		n.env = []string{"SSL_CERT_FILE=" + roots}
	}
	a.start(t)
	b.start(t)

	region := &tailcfg.DERPRegion{RegionID: 900, RegionCode: "test", RegionName: "test region"}
	for _, n := range []*regionNode{a, b} {
		// No CertName: derpprobe verifies the chain against the system
		// roots, which SSL_CERT_FILE replaces. No IPv6 field: derpprobe
		// would probe it and fail.
		region.Nodes = append(region.Nodes, &tailcfg.DERPNode{Name: n.name, RegionID: 900, HostName: n.hostname,
			IPv4: "127.0.0.1", DERPPort: n.tcpPort, STUNPort: n.udpPort})
	}
	mapPath := writeDERPMap(t, &tailcfg.DERPMap{Regions: map[int]*tailcfg.DERPRegion{900: region}})

	// The mesh needs a moment to learn each node's clients; derpprobe
	// waits 100 ms between connecting and sending on cross-node pairs.
	waitUntil(t, 15*time.Second, "mesh connected both ways", func() error {
		for _, n := range []*regionNode{a, b} {
			body, err := n.varz(t.Context())
			if err != nil {
				return err
			}
			if want := `relayctl_mesh_peer_connected{peer="` + otherURL(n, a, b) + `"} 1`; !strings.Contains(body, want) {
				return errorf("node %s: no %s", n.name, want)
			}
		}
		return nil
	})

	cmd := exec.CommandContext(t.Context(), buildDerpprobe(t), "-derp-map", "file://"+mapPath, "-once",
		"-spread=false", "-tls-interval", "15s", "-stun-interval", "15s", "-mesh-interval", "15s")
	cmd.Env = append(os.Environ(), "SSL_CERT_FILE="+roots)
	out, err := cmd.CombinedOutput()
	good, bad := derpprobeResults(string(out))
	t.Logf("derpprobe good: %v", good)
	if err != nil || len(bad) > 0 {
		t.Fatalf("derpprobe on a relayctl region: %v\nbad: %v\n%s", err, bad, out)
	}
	want := []string{"derp/test/900a/900a/mesh", "derp/test/900a/900b/mesh", "derp/test/900a/tls", "derp/test/900a/udp",
		"derp/test/900b/900a/mesh", "derp/test/900b/900b/mesh", "derp/test/900b/tls", "derp/test/900b/udp"}
	if strings.Join(good, " ") != strings.Join(want, " ") {
		t.Fatalf("derpprobe good probes %v, want %v\n%s", good, want, out)
	}
}

func otherURL(n, a, b *regionNode) string {
	if n == a {
		return b.meshURL()
	}
	return a.meshURL()
}

var probeLine = regexp.MustCompile(`(?m)^.*?(good|bad): (derp/[^:]+):`)

// derpprobeResults parses derpprobe --once's "good: name: …" and
// "bad: name: …" lines.
func derpprobeResults(out string) (good, bad []string) {
	for _, m := range probeLine.FindAllStringSubmatch(out, -1) {
		if m[1] == "good" {
			good = append(good, m[2])
		} else {
			bad = append(bad, m[2])
		}
	}
	sort.Strings(good)
	sort.Strings(bad)
	return good, bad
}

// writeDERPMap writes dm as JSON to a temporary derpmap.json and returns
// its path.
func writeDERPMap(t *testing.T, dm *tailcfg.DERPMap) string {
	t.Helper()
	b, err := json.Marshal(dm)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "derpmap.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
