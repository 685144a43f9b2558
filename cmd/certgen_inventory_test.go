package cmd

import (
	"strings"
	"testing"
)

func TestCertgenInventoryFragment(t *testing.T) {
	dir := t.TempDir()
	stdout, stderr, code := runCLI(t, "certgen", "--ip", "203.0.113.7", "--certdir", dir, "--region-id", "901", "--region-code", "fra", "--node-name", "fra1", "--inventory")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	pin := ""
	for _, l := range strings.Split(stderr, "\n") {
		if p, ok := strings.CutPrefix(l, "Pin: "); ok {
			pin = p
		}
	}
	want := `regions:
  - id: 901
    code: fra
    name: 203.0.113.7
nodes:
  - name: fra1
    region: fra
    hostname: 203.0.113.7
    ipv4: 203.0.113.7
    derp-port: 443
    stun-port: 3478
    cert: ` + pin + `
`
	if pin == "" || stdout != want {
		t.Fatalf("got\n%s\nwant\n%s", stdout, want)
	}
	// derpmap takes the fragment as is.
	inv := writeTestFile(t, "fleet.yaml", stdout)
	out, stderr, code := runCLI(t, "derpmap", "build", inv)
	if code != 0 || !strings.Contains(out, `"CertName": "`+pin+`"`) {
		t.Errorf("derpmap build of the fragment: exit %d\n%s%s", code, out, stderr)
	}
}
