package interop

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/relayctl/relayctl/internal/certs"
	"github.com/tailscale/hujson"
	headscaleyaml "gopkg.in/yaml.v3" // the YAML library headscale's DERP loader uses
	"tailscale.com/tailcfg"
)

// `relayctl derpmap`: an inventory rendered in every format and read back
// by the real consumer of each, and pins checked against live relays.

const derpmapTestPin = "sha256-raw:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

const derpmapTestInventory = `# a two-region fleet
regions:
  - id: 900
    code: fra
    name: Frankfurt
    score: 0.8
  - id: 901
    code: sgp
    name: Singapore
    no-measure-no-home: true
nodes:
  - name: fra1
    region: fra
    hostname: derp1.example.net
  - name: fra2
    region: fra
    hostname: 203.0.113.11
    ipv4: 203.0.113.11
    ipv6: none
    derp-port: 8443
    stun-port: 3479
    cert: ` + derpmapTestPin + `
  - name: sgp1
    region: sgp
    hostname: 198.51.100.4
    ipv6: "2001:db8::4"
    stun-port: -1
    can-port-80: false
    cert: ` + derpmapTestPin + `
`

// derpmapTestWant is derpmapTestInventory as Tailscale's type.
var derpmapTestWant = &tailcfg.DERPMap{
	HomeParams: &tailcfg.DERPHomeParams{RegionScore: map[int]float64{900: 0.8}},
	Regions: map[int]*tailcfg.DERPRegion{
		900: {RegionID: 900, RegionCode: "fra", RegionName: "Frankfurt", Nodes: []*tailcfg.DERPNode{
			{Name: "fra1", RegionID: 900, HostName: "derp1.example.net"},
			{Name: "fra2", RegionID: 900, HostName: "203.0.113.11", CertName: derpmapTestPin, IPv4: "203.0.113.11", IPv6: "none", DERPPort: 8443, STUNPort: 3479},
		}},
		901: {RegionID: 901, RegionCode: "sgp", RegionName: "Singapore", NoMeasureNoHome: true, Nodes: []*tailcfg.DERPNode{
			{Name: "sgp1", RegionID: 901, HostName: "198.51.100.4", CertName: derpmapTestPin, IPv6: "2001:db8::4", STUNPort: -1},
		}},
	},
}

// runDERPMapCLI runs relayctl with args and returns its exit code and
// output.
func runDERPMapCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	return runRelayctlCLI(t.Context(), t, args...)
}

// runRelayctlCLI runs the relayctl binary with args until it exits or ctx
// ends, and returns its exit code and output.
func runRelayctlCLI(ctx context.Context, t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.CommandContext(ctx, certgenBinary(t), args...) // the relayctl binary, built even when only derper is tested
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("relayctl %s: %v", strings.Join(args, " "), err)
	}
	return code, out.String(), errOut.String()
}

func mustDERPMapCLI(t *testing.T, args ...string) string {
	t.Helper()
	code, stdout, stderr := runDERPMapCLI(t, args...)
	if code != 0 {
		t.Fatalf("relayctl %s: exit %d\n%s", strings.Join(args, " "), code, stderr)
	}
	return stdout
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestDERPMapFormatsReadByTheirConsumers(t *testing.T) {
	dir := t.TempDir()
	inv := writeFile(t, dir, "fleet.yaml", derpmapTestInventory)

	t.Run("json_tailcfg", func(t *testing.T) {
		out := mustDERPMapCLI(t, "derpmap", "build", inv, "--format", "json")
		var got tailcfg.DERPMap
		dec := json.NewDecoder(strings.NewReader(out))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&got); err != nil {
			t.Fatalf("not a tailcfg.DERPMap: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(&got, derpmapTestWant) {
			t.Errorf("tailcfg.DERPMap differs:\n%s", out)
		}
	})

	t.Run("tailscale_policy_hujson", func(t *testing.T) {
		const policy = "// tailnet policy\n{\n\t// everyone\n\t\"acls\": [{\"action\": \"accept\", \"src\": [\"*\"], \"dst\": [\"*:*\"]}],\n}\n"
		pf := writeFile(t, dir, "policy.hujson", policy)
		mustDERPMapCLI(t, "derpmap", "apply", inv, "--policy-file", pf, "--omit-default-regions")
		after, err := os.ReadFile(pf)
		if err != nil {
			t.Fatal(err)
		}
		std, err := hujson.Standardize(bytes.Clone(after)) // it blanks comments in place
		if err != nil {
			t.Fatalf("policy file is not HuJSON after apply: %v\n%s", err, after)
		}
		var doc struct {
			ACLs    []json.RawMessage `json:"acls"`
			DERPMap *tailcfg.DERPMap  `json:"derpMap"`
		}
		if err := json.Unmarshal(std, &doc); err != nil {
			t.Fatal(err)
		}
		want := *derpmapTestWant
		want.OmitDefaultRegions = true
		if len(doc.ACLs) != 1 || !reflect.DeepEqual(doc.DERPMap, &want) {
			t.Errorf("policy file read back differs:\n%s", after)
		}
		if !strings.HasPrefix(string(after), strings.TrimSuffix(policy, "}\n")) {
			t.Errorf("bytes before the new member changed:\n%s", after)
		}
		// The block printed by build is the same member.
		block := mustDERPMapCLI(t, "derpmap", "build", inv, "--format", "tailscale-policy", "--omit-default-regions")
		std, err = hujson.Standardize([]byte("{" + block + "}"))
		if err != nil {
			t.Fatal(err)
		}
		doc.DERPMap = nil
		if err := json.Unmarshal(std, &doc); err != nil || !reflect.DeepEqual(doc.DERPMap, &want) {
			t.Errorf("policy block read back differs (%v):\n%s", err, block)
		}
	})

	t.Run("headscale_yaml", func(t *testing.T) {
		out := mustDERPMapCLI(t, "derpmap", "build", inv, "--format", "headscale")
		// As headscale's loadDERPMapFromPath: yaml.v3 into tailcfg.DERPMap.
		var got tailcfg.DERPMap
		if err := headscaleyaml.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("headscale's decoding fails: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(&got, derpmapTestWant) {
			t.Errorf("headscale's tailcfg.DERPMap differs:\n%s", out)
		}
	})
}

// TestDERPMapPinCheckLiveRelays runs two relayctl relays on self-signed
// certificates from certgen, pins both from the live relays, rotates one
// certificate with certgen --force and expects pin --check to catch it.
func TestDERPMapPinCheckLiveRelays(t *testing.T) {
	if !serverSelected(relayctlServer) {
		t.Skip("relayctl not selected")
	}
	dirA, dirB := t.TempDir(), t.TempDir()
	runCertgen(t, dirA)
	cgB := runCertgen(t, dirB)
	a := startManualRelay(t, relayctlServer, dirA, "127.0.0.1")
	b := startManualRelay(t, relayctlServer, dirB, "127.0.0.1")
	// One region per relay: they do not mesh.
	node := func(name string, r *manualRelay) string {
		return "  - name: " + name + "\n    region: " + name + "\n    hostname: 127.0.0.1\n    ipv4: 127.0.0.1\n    derp-port: " +
			strconv.Itoa(r.tcpPort) + "\n    stun-port: " + strconv.Itoa(r.udpPort) + "\n    cert: pin # from the live relay\n"
	}
	inv := writeFile(t, t.TempDir(), "fleet.yaml", "regions:\n  - {id: 900, code: a}\n  - {id: 901, code: b}\nnodes:\n"+node("a", a)+node("b", b))

	mustDERPMapCLI(t, "derpmap", "pin", inv)
	pinned, err := os.ReadFile(inv)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(pinned), "cert: "+cgB.pin+" # from the live relay") || strings.Count(string(pinned), "sha256-raw:") != 2 {
		t.Fatalf("inventory after pin:\n%s", pinned)
	}
	if code, stdout, stderr := runDERPMapCLI(t, "derpmap", "pin", inv, "--check"); code != 0 {
		t.Fatalf("check of fresh pins: exit %d\n%s%s", code, stdout, stderr)
	}
	// The pinned inventory is a DERP map probe takes as is.
	if code, rep, stderr := runRelayctlProbe(t, nil, "--derp-map", inv); code != 0 {
		t.Errorf("probe of the pinned inventory: exit %d %+v\n%s", code, rep, stderr)
	}

	// The forgotten step: a new certificate, the map not updated.
	cgB2 := runCertgen(t, dirB, "--force")
	if cgB2.pin == cgB.pin {
		t.Fatal("certgen --force kept the pin")
	}
	// The relay looks at its files on a new handshake, at most once a
	// second: handshake until it serves the new certificate.
	waitServedPin(t, b.addr, cgB2.pin)
	code, stdout, stderr := runDERPMapCLI(t, "derpmap", "pin", inv, "--check")
	if code != 1 {
		t.Fatalf("check after rotation: exit %d, want 1\n%s%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "serves "+cgB2.pin+", pinned "+cgB.pin) || !strings.Contains(stderr, "1 node(s) not matching or not reachable: b") {
		t.Errorf("check after rotation does not name b's new certificate:\n%s%s", stdout, stderr)
	}
	if after, _ := os.ReadFile(inv); !bytes.Equal(after, pinned) {
		t.Errorf("--check changed the inventory")
	}
}

// waitServedPin handshakes with addr until its leaf has pin.
func waitServedPin(t *testing.T, addr, pin string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	served := ""
	for {
		d := tls.Dialer{Config: &tls.Config{InsecureSkipVerify: true}}
		if conn, err := d.DialContext(ctx, "tcp", addr); err == nil {
			served = certs.CertName(conn.(*tls.Conn).ConnectionState().PeerCertificates[0].Raw)
			conn.Close()
			if served == pin {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s still serves %s, want %s", addr, served, pin)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
