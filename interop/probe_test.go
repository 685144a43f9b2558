package interop

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestProbeOnceHealthyFleet: a plain-HTTP fleet (TS_DEBUG_USE_DERP_HTTP) of
// two meshed derper nodes and a relayctl node is all green and `relayctl
// probe --once` exits 0. (relayctl serve has no --mesh-with yet, so the
// meshed region is derper's.)
//
// A second, TLS map has a derper and a relayctl node (--certmode manual),
// both self-signed for "localhost" and pinned by hash.
func TestProbeOnceHealthyFleet(t *testing.T) {
	t.Parallel()
	psk := writeMeshKey(t)
	meshA, meshB := buildMeshPair(t, psk, false)
	rc := startFleetNode(t, relayctlServer, "901a", fleetNodeOpts{meshPSK: psk})
	plainMap := writeFleetMap(t,
		fleetRegion{900, "derper", []map[string]any{meshA.mapNode(900), meshB.mapNode(900)}},
		fleetRegion{901, "relayctl", []map[string]any{rc.mapNode(901)}},
	)
	code, rep, stderr := runRelayctlProbe(t, []string{"TS_DEBUG_USE_DERP_HTTP=1"}, "--derp-map", plainMap, "--mesh-psk-file", psk, "--mesh-regions", "900,901", "--timeout", "5s")
	wantStatuses(t, rep, map[string]string{
		"900/900a/stun4": "ok", "900/900a/tls": "skip", "900/900a/derp": "ok",
		"900/900b/stun4": "ok", "900/900b/tls": "skip", "900/900b/derp": "ok",
		"900/900a->900b/mesh": "ok", "900/900b->900a/mesh": "ok",
		"901/901a/stun4": "ok", "901/901a/tls": "skip", "901/901a/derp": "ok",
	})
	if code != 0 || !rep.OK {
		t.Errorf("plain fleet: exit %d, ok %v; stderr:\n%s", code, rep.OK, stderr)
	}

	pinnedDerper := startFleetNode(t, derperServer, "902a", fleetNodeOpts{tls: true})
	pinnedRelayctl := startFleetNode(t, relayctlServer, "903a", fleetNodeOpts{tls: true})
	tlsMap := writeFleetMap(t,
		fleetRegion{902, "derper", []map[string]any{pinnedDerper.mapNode(902)}},
		fleetRegion{903, "relayctl", []map[string]any{pinnedRelayctl.mapNode(903)}},
	)
	code, rep, stderr = runRelayctlProbe(t, nil, "--derp-map", "file://"+tlsMap, "--timeout", "5s")
	wantStatuses(t, rep, map[string]string{
		"902/902a/stun4": "ok", "902/902a/tls": "ok", "902/902a/derp": "ok",
		"903/903a/stun4": "ok", "903/903a/tls": "ok", "903/903a/derp": "ok",
	})
	if code != 0 || !rep.OK {
		t.Errorf("TLS fleet: exit %d, ok %v; stderr:\n%s", code, rep.OK, stderr)
	}
}

// buildMeshPair starts two derper nodes meshed with each other. Their
// ports are reserved first because each needs the other's address.
func buildMeshPair(t *testing.T, psk string, useTLS bool) (a, b *fleetNode) {
	t.Helper()
	bin := binaryFor(t, derperServer)
	tcpA, udpA := reservePorts(t)
	tcpB, udpB := reservePorts(t)
	hostA, hostB := "127.0.0.1:"+strconv.Itoa(tcpA), "127.0.0.1:"+strconv.Itoa(tcpB)
	var errA, errB error
	var wg sync.WaitGroup
	wg.Go(func() {
		a, errA = launchFleetNode(t, derperServer, bin, "900a", fleetNodeOpts{tls: useTLS, meshPSK: psk, meshWith: []string{hostB}, plainMesh: !useTLS}, tcpA, udpA)
	})
	wg.Go(func() {
		b, errB = launchFleetNode(t, derperServer, bin, "900b", fleetNodeOpts{tls: useTLS, meshPSK: psk, meshWith: []string{hostA}, plainMesh: !useTLS}, tcpB, udpB)
	})
	wg.Wait()
	if errA != nil || errB != nil {
		t.Fatalf("mesh pair: %v; %v", errA, errB)
	}
	// Each node's mesh client retries until its peer is up; wait for both
	// links so that the probe sees the region as its clients would.
	for _, n := range []*fleetNode{a, b} {
		if err := n.waitForLog(t.Context(), readyTimeout, "): connected;"); err != nil {
			t.Fatalf("%s: %v\nlogs:\n%s", n.name, err, n.logs)
		}
	}
	return a, b
}

func wantStatuses(t *testing.T, rep probeReport, want map[string]string) {
	t.Helper()
	got := map[string]string{}
	for _, r := range rep.Results {
		got[r.Name] = r.Status
		if w, ok := want[r.Name]; ok && w != r.Status {
			t.Errorf("%s: %s (%s%s), want %s", r.Name, r.Status, r.Error, r.Detail, w)
		}
	}
	for name := range want {
		if _, ok := got[name]; !ok {
			t.Errorf("%s: no result", name)
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %d results, want %d: %v", len(got), len(want), got)
	}
}

// failingFleet is a TLS fleet (nodes self-signed and pinned by hash) with one
// fault per region, and the relayctl probe results it must produce.
type failingFleet struct {
	mapPath string
	want    map[string]wantResult
	badNode map[string]bool // nodes with any failing STUN, DERP or mesh probe
}

type wantResult struct {
	status string
	errHas string
}

func startFailingFleet(t *testing.T) failingFleet {
	t.Helper()
	good := startFleetNode(t, derperServer, "900a", fleetNodeOpts{tls: true})
	stopped := startFleetNode(t, relayctlServer, "901a", fleetNodeOpts{})
	stopped.stop()
	mute := startFleetNode(t, derperServer, "902a", fleetNodeOpts{tls: true})
	expired := startFleetNode(t, derperServer, "903a", fleetNodeOpts{tls: true, notAfter: time.Now().Add(-48 * time.Hour)})
	wrongPin := startFleetNode(t, relayctlServer, "904a", fleetNodeOpts{tls: true})
	splitA := startFleetNode(t, derperServer, "905a", fleetNodeOpts{tls: true})
	splitB := startFleetNode(t, derperServer, "905b", fleetNodeOpts{tls: true})

	muteNode := mute.mapNode(902)
	muteNode["STUNPort"] = deadUDPPort(t)
	pinNode := wrongPin.mapNode(904)
	pinNode["CertName"] = good.certPin
	path := writeFleetMap(t,
		fleetRegion{900, "good", []map[string]any{good.mapNode(900)}},
		fleetRegion{901, "stopped", []map[string]any{stopped.mapNode(901)}},
		fleetRegion{902, "mute", []map[string]any{muteNode}},
		fleetRegion{903, "expired", []map[string]any{expired.mapNode(903)}},
		fleetRegion{904, "pin", []map[string]any{pinNode}},
		fleetRegion{905, "split", []map[string]any{splitA.mapNode(905), splitB.mapNode(905)}},
	)
	return failingFleet{
		mapPath: path,
		want: map[string]wantResult{
			"900/900a/stun4": {"ok", ""}, "900/900a/tls": {"ok", ""}, "900/900a/derp": {"ok", ""},
			"901/901a/stun4": {"fail", "no reply"}, "901/901a/tls": {"fail", "connection refused"}, "901/901a/derp": {"fail", "connect to 901a"},
			"902/902a/stun4": {"fail", "no reply"}, "902/902a/tls": {"ok", ""}, "902/902a/derp": {"ok", ""},
			"903/903a/stun4": {"ok", ""}, "903/903a/tls": {"fail", "certificate expired"}, "903/903a/derp": {"fail", "certificate expired"},
			"904/904a/stun4": {"ok", ""}, "904/904a/tls": {"fail", "CertName pin mismatch"}, "904/904a/derp": {"fail", "CertName pin mismatch"},
			"905/905a/stun4": {"ok", ""}, "905/905a/tls": {"ok", ""}, "905/905a/derp": {"ok", ""},
			"905/905b/stun4": {"ok", ""}, "905/905b/tls": {"ok", ""}, "905/905b/derp": {"ok", ""},
			"905/905a->905b/mesh": {"fail", "no packet from 905a arrived at 905b"},
			"905/905b->905a/mesh": {"fail", "no packet from 905b arrived at 905a"},
		},
		badNode: map[string]bool{"901a": true, "902a": true, "903a": true, "904a": true, "905a": true, "905b": true},
	}
}

// TestProbeOnceNamesFailures: a stopped node, a STUN port that does not
// answer, an expired and a wrong-pinned certificate, and a region whose
// nodes are not meshed each fail by name, and the exit code is 1.
func TestProbeOnceNamesFailures(t *testing.T) {
	t.Parallel()
	fleet := startFailingFleet(t)
	code, rep, stderr := runRelayctlProbe(t, nil, "--derp-map", fleet.mapPath, "--timeout", "3s", "--parallel", "16")
	if code != 1 || rep.OK || !strings.Contains(stderr, "relayctl: 10 of 23 probes failed") {
		t.Errorf("exit %d, ok %v, stderr %q; want 1 and '10 of 23 probes failed'", code, rep.OK, stderr)
	}
	got := map[string]bool{}
	for _, r := range rep.Results {
		got[r.Name] = true
		w, ok := fleet.want[r.Name]
		if !ok {
			t.Errorf("unexpected probe %s", r.Name)
			continue
		}
		if r.Status != w.status || !strings.Contains(r.Error, w.errHas) {
			t.Errorf("%s: %s %q, want %s with an error containing %q", r.Name, r.Status, r.Error, w.status, w.errHas)
		}
	}
	for name := range fleet.want {
		if !got[name] {
			t.Errorf("%s: no result", name)
		}
	}
}

// TestProbeAgreesWithDerpprobe runs Tailscale's derpprobe --once on the same
// failing map: both must find the same nodes bad. derpprobe's TLS probe
// ignores CertName and so fails every self-signed node, and it probes udp6
// even for "IPv6":"none"; those two classes are left out of the comparison.
func TestProbeAgreesWithDerpprobe(t *testing.T) {
	t.Parallel()
	derpprobe := buildDerpprobe(t)
	fleet := startFailingFleet(t)
	_, rep, _ := runRelayctlProbe(t, nil, "--derp-map", fleet.mapPath, "--timeout", "3s", "--parallel", "16")
	ours := map[string]bool{}
	for _, r := range rep.Results {
		if strings.HasSuffix(r.Name, "/tls") {
			continue
		}
		if r.Status == "fail" {
			for _, n := range probeNodes(r.Name) {
				ours[n] = true
			}
		}
	}

	cmd := exec.CommandContext(t.Context(), derpprobe, "-derp-map", "file://"+fleet.mapPath, "-once",
		"-tls-interval", "2s", "-stun-interval", "2s", "-mesh-interval", "4s")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err == nil {
		t.Errorf("derpprobe exited 0 on a failing map")
	}
	theirs := map[string]bool{}
	line := regexp.MustCompile(`(good|bad): derp/([^/]+)/(.+)/(udp|udp6|tls|mesh): `)
	sc := bufio.NewScanner(&out)
	seen := 0
	for sc.Scan() {
		m := line.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		seen++
		if m[4] == "tls" || m[4] == "udp6" || m[1] == "good" {
			continue
		}
		for _, n := range strings.Split(m[3], "/") {
			theirs[n] = true
		}
	}
	if seen == 0 {
		t.Fatalf("no good:/bad: lines from derpprobe:\n%s", out.String())
	}
	if !mapsEqual(ours, fleet.badNode) {
		t.Errorf("relayctl probe found bad nodes %v, want %v", keys(ours), keys(fleet.badNode))
	}
	if !mapsEqual(theirs, ours) {
		t.Errorf("derpprobe found bad nodes %v, relayctl probe %v\nderpprobe output:\n%s", keys(theirs), keys(ours), out.String())
	}
}

// probeNodes lists the nodes a probe name involves: "905/905a->905b/mesh"
// → 905a, 905b.
func probeNodes(name string) []string {
	parts := strings.Split(name, "/")
	if len(parts) != 3 {
		return nil
	}
	return strings.Split(parts[1], "->")
}

// buildDerpprobe builds Tailscale's derpprobe from this module's tool
// directive (or takes DERPPROBE_BIN).
func buildDerpprobe(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("DERPPROBE_BIN"); p != "" {
		return p
	}
	path := filepath.Join(t.TempDir(), "derpprobe")
	if err := buildServer(path, "", "tailscale.com/cmd/derpprobe"); err != nil {
		t.Fatalf("building derpprobe: %v", err)
	}
	return path
}

func deadUDPPort(t *testing.T) int {
	t.Helper()
	_, udp := freePorts(t)
	return udp
}

func mapsEqual(a, b map[string]bool) bool {
	return slices.Equal(keys(a), keys(b))
}

func keys(m map[string]bool) []string {
	var ks []string
	for k, v := range m {
		if v {
			ks = append(ks, k)
		}
	}
	slices.Sort(ks)
	return ks
}

// TestDerpprobeAcceptsRelayctlRegion: Tailscale's derpprobe finds a
// relayctl node (TLS, self-signed for "localhost", pinned by hash) good for
// STUN and DERP delivery. Its TLS probe ignores CertName and fails every
// self-signed node, so it is left out.
func TestDerpprobeAcceptsRelayctlRegion(t *testing.T) {
	t.Parallel()
	derpprobe := buildDerpprobe(t)
	rc := startFleetNode(t, relayctlServer, "901a", fleetNodeOpts{tls: true})
	node := rc.mapNode(901)
	delete(node, "IPv6") // derpprobe probes udp6 whenever the field is non-empty, "none" included
	path := writeFleetMap(t, fleetRegion{901, "rc", []map[string]any{node}})
	cmd := exec.CommandContext(t.Context(), derpprobe, "-derp-map", "file://"+path, "-once",
		"-tls-interval", "2s", "-stun-interval", "2s", "-mesh-interval", "4s")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Run()
	for _, want := range []string{"good: derp/rc/901a/udp: ", "good: derp/rc/901a/901a/mesh: "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("derpprobe output lacks %q:\n%s", want, out.String())
		}
	}
}
