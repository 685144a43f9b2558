package cmd

import (
	"strings"
	"testing"
)

func TestDERPMapDiff(t *testing.T) {
	const pinA = "sha256-raw:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	const pinB = "sha256-raw:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	old := writeTestFile(t, "old.yaml", `regions:
  - {id: 900, code: fra, name: Frankfurt}
  - {id: 901, code: sgp}
  - {id: 902, code: ams}
nodes:
  - {name: fra1, region: fra, hostname: 192.0.2.1, cert: `+pinA+`}
  - {name: fra2, region: fra, hostname: 192.0.2.2, cert: `+pinA+`}
  - {name: sgp1, region: sgp, hostname: 192.0.2.3}
  - {name: ams1, region: ams, hostname: 192.0.2.4}
  - {name: ams2, region: ams, hostname: 192.0.2.5}
`)
	// New: fra1 re-pinned and on another port, fra2 gone, fra3 first;
	// sgp removed and its node moved to ams; syd added; ams scored.
	newer := writeTestFile(t, "new.yaml", `regions:
  - {id: 900, code: fra, name: Frankfurt}
  - {id: 902, code: ams, score: 2}
  - {id: 903, code: syd}
nodes:
  - {name: fra3, region: fra, hostname: 192.0.2.6}
  - {name: fra1, region: fra, hostname: 192.0.2.1, derp-port: 8443, cert: `+pinB+`}
  - {name: ams1, region: ams, hostname: 192.0.2.4}
  - {name: ams2, region: ams, hostname: 192.0.2.5}
  - {name: sgp1, region: ams, hostname: 192.0.2.3}
  - {name: syd1, region: syd, hostname: 192.0.2.7}
`)
	want := `region 900 fra (Frankfurt): changed
  - node fra2 192.0.2.2, pin aaaaaaaaaaaa…: its clients reconnect to another node of the region
  + node fra3 192.0.2.6, public CA
  ~ node fra1: trust pin aaaaaaaaaaaa… → pin bbbbbbbbbbbb…: clients accept only the certificate with the new pin; a relay still serving the old one is refused
  ~ node fra1: derp port 443 → 8443: clients connect to the new port
  ~ first node fra1 → fra3: clients dial fra3 first
region 901 sgp: removed
  clients homed here pick another home region; this region's nodes leave the map
  node sgp1 moves to region 902
region 902 ams: changed
  ~ score 1 → 2: home-region choice weighs this region's latency differently
  + node sgp1 192.0.2.3, public CA, moved from region 901: its clients reconnect here
region 903 syd: added
  + node syd1 192.0.2.7, public CA
`
	stdout, stderr, code := runCLI(t, "derpmap", "diff", old, newer)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if stdout != want {
		t.Errorf("diff output:\n%s\nwant:\n%s", stdout, want)
	}
	stdout, _, code = runCLI(t, "derpmap", "diff", old, old)
	if code != 0 || stdout != "no changes\n" {
		t.Errorf("same map: exit %d, %q", code, stdout)
	}
}

func TestDERPMapDiffAcrossFormats(t *testing.T) {
	inv := writeTestFile(t, "fleet.yaml", testFleet)
	policyOut, _, _ := runCLI(t, "derpmap", "build", inv, "--format", "tailscale-policy")
	policy := writeTestFile(t, "policy.hujson", "// policy\n{\n"+policyOut+"}\n")
	headscaleOut, _, _ := runCLI(t, "derpmap", "build", inv, "--format", "headscale")
	headscale := writeTestFile(t, "derp.yaml", headscaleOut)
	for _, other := range []string{policy, headscale} {
		stdout, stderr, code := runCLI(t, "derpmap", "diff", other, inv)
		if code != 0 || stdout != "no changes\n" {
			t.Errorf("diff %s %s: exit %d, %q %s", other, inv, code, stdout, stderr)
		}
	}
	notMap := writeTestFile(t, "acl.json", `{"acls": []}`)
	_, stderr, code := runCLI(t, "derpmap", "diff", notMap, inv)
	if code != 2 || !strings.Contains(stderr, notMap+": not a DERP map") {
		t.Errorf("not a map: exit %d, %q", code, stderr)
	}
}
