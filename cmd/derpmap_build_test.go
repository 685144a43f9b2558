package cmd

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/relayctl/relayctl/internal/derpmap"
)

const testFleetPin = "sha256-raw:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

const testFleet = `regions:
  - id: 900
    code: fra
    name: Frankfurt
  - id: 901
    code: sgp
nodes:
  - name: fra1
    region: fra
    hostname: derp1.example.net
  - name: sgp1
    region: sgp
    hostname: 198.51.100.4
    cert: ` + testFleetPin + `
`

func writeTestFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestDERPMapBuild(t *testing.T) {
	inv := writeTestFile(t, "fleet.yaml", testFleet)
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"json", []string{"derpmap", "build", inv}, []string{"{\n  \"Regions\": {\n    \"900\": {", testFleetPin}},
		{"policy", []string{"derpmap", "build", inv, "--format", "tailscale-policy", "--omit-default-regions"}, []string{`"derpMap": {`, `"omitDefaultRegions": true`}},
		{"headscale", []string{"derpmap", "build", inv, "--format", "headscale"}, []string{"regions:\n  900:\n    regionid: 900\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, code := runCLI(t, tt.args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(stdout, w) {
					t.Errorf("output lacks %q:\n%s", w, stdout)
				}
			}
		})
	}
	stdout, _, _ := runCLI(t, "derpmap", "build", inv)
	var m derpmap.DERPMap
	if err := json.Unmarshal([]byte(stdout), &m); err != nil || len(m.Regions) != 2 {
		t.Errorf("json output does not decode to two regions (%v):\n%s", err, stdout)
	}
}

func TestDERPMapBuildErrors(t *testing.T) {
	good := writeTestFile(t, "fleet.yaml", testFleet)
	pending := writeTestFile(t, "pending.yaml", strings.Replace(testFleet, "cert: "+testFleetPin, "cert: pin", 1))
	bad := writeTestFile(t, "bad.yaml", strings.Replace(testFleet, "region: sgp", "region: ams", 1))
	warn := writeTestFile(t, "warn.yaml", strings.Replace(testFleet, "id: 901", "id: 5", 1))
	tests := []struct {
		name     string
		args     []string
		code     int
		inStderr string
	}{
		{"bad_format", []string{"derpmap", "build", good, "--format", "yaml"}, 2, `--format "yaml": want json, tailscale-policy, headscale`},
		{"omit_without_policy", []string{"derpmap", "build", good, "--omit-default-regions"}, 2, "--omit-default-regions is for --format tailscale-policy"},
		{"no_inventory", []string{"derpmap", "build"}, 2, "accepts 1 arg"},
		{"missing_file", []string{"derpmap", "build", "/nonexistent.yaml"}, 2, "no such file"},
		{"invalid", []string{"derpmap", "build", bad}, 2, bad + `:12: node "sgp1": region "ams" is not in regions`},
		{"pending_pin", []string{"derpmap", "build", pending}, 2, pending + `:11: node "sgp1" (pin not filled in; run 'relayctl derpmap pin`},
		{"warning", []string{"derpmap", "build", warn}, 0, "warning: " + warn + ":5: region 5: outside 900-999"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, stderr, code := runCLI(t, tt.args...)
			if code != tt.code || !strings.Contains(stderr, tt.inStderr) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", code, stderr, tt.code, tt.inStderr)
			}
		})
	}
}
