package cmd

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/relayctl/relayctl/internal/fakegateway"
)

// The namespace tests build a small network out of Linux network
// namespaces and veth pairs, so that netcheck meets real NAT, real packet
// filters and a real gateway:
//
//	client ns              gateway ns                        relay ns
//	c0 10.201.1.2/24 ───── gc 10.201.1.1/24  gr 10.201.2.1/24 ───── r0 10.201.2.2/24
//	default via .1.1       masquerade out of gr                relayctl serve :80, STUN :3478
//	                       NAT-PMP/PCP :5351, SSDP :1900
//	                       captive interceptor :8080
//
// netcheck and the relay are this test binary re-executed inside their
// namespace (TestNetcheckNetnsHelper); the gateway's responders run in
// this process on sockets opened inside the gateway namespace.
const (
	nsClientIP  = "10.201.1.2"
	nsGatewayIn = "10.201.1.1"
	nsGatewayUp = "10.201.2.1" // the address the relay sees: the NAT's public side
	nsRelayIP   = "10.201.2.2"
)

// netnsHelperEnv, when set, holds the JSON argument list the re-executed
// test binary runs relayctl with.
const netnsHelperEnv = "RELAYCTL_NETNS_HELPER_ARGS"

// TestNetcheckNetnsHelper is not a test: it is relayctl, run inside a
// namespace by the tests below.
func TestNetcheckNetnsHelper(t *testing.T) {
	raw := os.Getenv(netnsHelperEnv)
	if raw == "" {
		t.Skip("helper process for the namespace tests")
	}
	var args []string
	if err := json.Unmarshal([]byte(raw), &args); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	netcheckGateway = nil // the real default route, inside the namespace
	os.Exit(Execute(args, SystemStreams()))
}

// netnsLab is the three namespaces and what runs in them.
type netnsLab struct {
	t                    *testing.T
	client, gateway, rel string
	mapPath              string
}

func newNetnsLab(t *testing.T) *netnsLab {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("namespace tests need root (CI runs as root)")
	}
	for _, tool := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("namespace tests need %s: %v (Debian: iproute2, nftables)", tool, err)
		}
	}
	suffix := strconv.Itoa(os.Getpid())
	lab := &netnsLab{t: t, client: "rcnc-c-" + suffix, gateway: "rcnc-g-" + suffix, rel: "rcnc-r-" + suffix}
	for _, ns := range []string{lab.client, lab.gateway, lab.rel} {
		if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
			t.Skipf("ip netns add: %v: %s (no network namespaces here)", err, out)
		}
		t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	}
	lab.ip("link", "add", "c0", "netns", lab.client, "type", "veth", "peer", "name", "gc", "netns", lab.gateway)
	lab.ip("link", "add", "r0", "netns", lab.rel, "type", "veth", "peer", "name", "gr", "netns", lab.gateway)
	for _, a := range []struct{ ns, dev, addr string }{
		{lab.client, "c0", nsClientIP + "/24"},
		{lab.gateway, "gc", nsGatewayIn + "/24"},
		{lab.gateway, "gr", nsGatewayUp + "/24"},
		{lab.rel, "r0", nsRelayIP + "/24"},
	} {
		lab.ip("-n", a.ns, "addr", "add", a.addr, "dev", a.dev)
		lab.ip("-n", a.ns, "link", "set", a.dev, "up")
		lab.ip("-n", a.ns, "link", "set", "lo", "up")
	}
	lab.ip("-n", lab.client, "route", "add", "default", "via", nsGatewayIn)
	lab.ip("-n", lab.rel, "route", "add", "default", "via", nsGatewayUp)
	lab.exec(lab.gateway, "sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward")
	lab.nft(`
table ip nat {
	chain prerouting { type nat hook prerouting priority dstnat; }
	chain postrouting { type nat hook postrouting priority srcnat; oifname "gr" masquerade; }
}
table ip filter {
	chain forward { type filter hook forward priority filter; }
	chain input { type filter hook input priority filter; }
}`)

	lab.mapPath = filepath.Join(t.TempDir(), "derpmap.json")
	dm := `{"Regions":{"900":{"RegionID":900,"RegionCode":"lab","RegionName":"Namespace lab","Nodes":[` +
		`{"Name":"900a","RegionID":900,"HostName":"` + nsRelayIP + `","IPv4":"` + nsRelayIP + `","IPv6":"none",` +
		`"DERPPort":80,"STUNPort":3478,"CanPort80":true}]}}}`
	if err := os.WriteFile(lab.mapPath, []byte(dm), 0o644); err != nil {
		t.Fatal(err)
	}
	return lab
}

func (l *netnsLab) ip(args ...string) {
	l.t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		l.t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

func (l *netnsLab) exec(ns string, args ...string) {
	l.t.Helper()
	if out, err := exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...).CombinedOutput(); err != nil {
		l.t.Fatalf("in %s: %s: %v: %s", ns, strings.Join(args, " "), err, out)
	}
}

// nft loads rules into the gateway's nftables.
func (l *netnsLab) nft(rules string) {
	l.t.Helper()
	cmd := exec.Command("ip", "netns", "exec", l.gateway, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		l.t.Fatalf("nft -f: %v: %s\n%s", err, out, rules)
	}
}

// helper starts relayctl args inside ns.
func (l *netnsLab) helper(ns string, env []string, args ...string) *exec.Cmd {
	raw, _ := json.Marshal(args)
	cmd := exec.CommandContext(l.t.Context(), "ip", "netns", "exec", ns, os.Args[0], "-test.run=^TestNetcheckNetnsHelper$")
	cmd.Env = append(os.Environ(), netnsHelperEnv+"="+string(raw))
	cmd.Env = append(cmd.Env, env...)
	return cmd
}

// inNetns runs fn on an OS thread moved into ns. Sockets fn opens stay in
// ns after the thread moves back, so servers keep serving there.
func inNetns(ns string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			errc <- err
			runtime.UnlockOSThread()
			return
		}
		defer orig.Close()
		target, err := os.Open("/run/netns/" + ns)
		if err != nil {
			errc <- err
			runtime.UnlockOSThread()
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", ns, err)
			runtime.UnlockOSThread()
			return
		}
		errc <- fn()
		// A thread that cannot move back stays locked and dies with
		// this goroutine.
		if unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
	}()
	return <-errc
}

// startRelay runs relayctl serve in the relay namespace: plain HTTP on
// port 80 (DERP, /generate_204, /derp/latency-check) and STUN on 3478.
func (l *netnsLab) startRelay() {
	l.t.Helper()
	dir := l.t.TempDir()
	var logs bytes.Buffer
	cmd := l.helper(l.rel, []string{"XDG_STATE_HOME=" + dir, "XDG_CONFIG_HOME=" + dir},
		"serve", "--certmode", "none", "--addr", nsRelayIP+":80", "--http-port", "-1",
		"--stun-port", "3478", "--key-file", filepath.Join(dir, "key.json"), "--hostname", nsRelayIP)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		l.t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	l.t.Cleanup(func() { <-exited })
	// Ready when the client can reach it through the gateway.
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := inNetns(l.client, func() error {
			c, err := net.DialTimeout("tcp", nsRelayIP+":80", time.Second)
			if err == nil {
				c.Close()
			}
			return err
		})
		if err == nil {
			return
		}
		select {
		case <-exited:
			l.t.Fatalf("relayctl serve exited: %s", logs.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			l.t.Fatalf("relay not reachable from the client namespace: %v\n%s", err, logs.String())
		}
	}
}

// startGatewayServices opens the port-mapping responders and the captive
// interceptor inside the gateway namespace.
func (l *netnsLab) startGatewayServices() {
	l.t.Helper()
	var pxp, ssdp *net.UDPConn
	var portal net.Listener
	err := inNetns(l.gateway, func() error {
		var err error
		if pxp, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(nsGatewayIn), Port: 5351}); err != nil {
			return err
		}
		if ssdp, err = net.ListenUDP("udp4", &net.UDPAddr{Port: 1900}); err != nil {
			return err
		}
		portal, err = net.Listen("tcp4", ":8080")
		return err
	})
	if err != nil {
		l.t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		// A portal's own 204: right status, no challenge response.
		w.WriteHeader(http.StatusNoContent)
	})}
	l.t.Cleanup(func() { pxp.Close(); ssdp.Close(); srv.Close() })
	go fakegateway.ServePXP(pxp, fakegateway.Services{PMP: true, PCP: true, PublicIP: netip.MustParseAddr(nsGatewayUp)})
	go fakegateway.ServeSSDP(ssdp, "http://"+nsGatewayIn+":5000/rootDesc.xml")
	go srv.Serve(portal)
}

// netcheck runs relayctl netcheck in the client namespace.
func (l *netnsLab) netcheck(args ...string) (stdout, stderr string) {
	l.t.Helper()
	cmd := l.helper(l.client, []string{"TS_DEBUG_USE_DERP_HTTP=1"}, append([]string{"netcheck", "--derp-map", l.mapPath}, args...)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		l.t.Fatalf("netcheck %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out.String(), errOut.String())
	}
	return out.String(), errOut.String()
}

// labReport is the part of the JSON report the faults change.
type labReport struct {
	UDP, IPv4, ICMPv4   bool
	GlobalV4            string
	UPnP, PMP, PCP      *bool
	CaptivePortal       *bool
	PreferredDERP       int
	RegionLatency       map[string]int64
	RegionLatencyMethod map[string]string
}

// TestNetcheckNamespaces puts netcheck behind a NAT gateway and breaks the
// path one way at a time; each fault shows in the report field it should.
func TestNetcheckNamespaces(t *testing.T) {
	lab := newNetnsLab(t)
	lab.startRelay()
	lab.startGatewayServices()
	relayUDP := "ip daddr " + nsRelayIP + " meta l4proto udp drop"
	relayEcho := "ip daddr " + nsRelayIP + " icmp type echo-request drop"
	relayTCP := "ip daddr " + nsRelayIP + " meta l4proto tcp reject with tcp reset"
	tests := []struct {
		name        string
		forward     []string // rules for the gateway's forward chain
		input       []string // rules for the gateway's input chain
		prerouting  []string // rules for the gateway's dstnat chain
		pingGroups  string   // the client's net.ipv4.ping_group_range, when set
		check       func(t *testing.T, r labReport)
		wantVerbose string
	}{
		{name: "open_path", check: func(t *testing.T, r labReport) {
			expect(t, "UDP", r.UDP, true)
			if ap, err := netip.ParseAddrPort(r.GlobalV4); err != nil || ap.Addr().String() != nsGatewayUp {
				t.Errorf("GlobalV4 = %q, want %s:<port> (the NAT's public side)", r.GlobalV4, nsGatewayUp)
			}
			expect(t, "RegionLatencyMethod[900]", r.RegionLatencyMethod["900"], "STUN")
			expect(t, "ICMPv4", r.ICMPv4, false)
			expect(t, "UPnP", fmtBool(r.UPnP), "true")
			expect(t, "PMP", fmtBool(r.PMP), "true")
			expect(t, "PCP", fmtBool(r.PCP), "true")
			expect(t, "CaptivePortal", fmtBool(r.CaptivePortal), "false")
		}, wantVerbose: "NAT-PMP: public address " + nsGatewayUp},
		{name: "no_port_mapping", input: []string{"udp dport { 1900, 5351 } drop"}, check: func(t *testing.T, r labReport) {
			expect(t, "UPnP", fmtBool(r.UPnP), "false")
			expect(t, "PMP", fmtBool(r.PMP), "false")
			expect(t, "PCP", fmtBool(r.PCP), "false")
			expect(t, "UDP", r.UDP, true)
		}},
		{name: "captive_portal", prerouting: []string{`iifname "gc" tcp dport 80 redirect to :8080`}, check: func(t *testing.T, r labReport) {
			expect(t, "CaptivePortal", fmtBool(r.CaptivePortal), "true")
			expect(t, "UDP", r.UDP, true)
		}},
		{name: "udp_blocked", forward: []string{relayUDP}, check: func(t *testing.T, r labReport) {
			expect(t, "UDP", r.UDP, false)
			expect(t, "ICMPv4", r.ICMPv4, true)
			expect(t, "GlobalV4", r.GlobalV4, "")
			expect(t, "PreferredDERP", r.PreferredDERP, 900)
			// ICMP and HTTPS both measured; the lower one stands.
			if m := r.RegionLatencyMethod["900"]; m != "ICMP" && m != "HTTPS" {
				t.Errorf("RegionLatencyMethod[900] = %q, want ICMP or HTTPS", m)
			}
		}, wantVerbose: "echo reply over a raw socket"},
		{name: "only_icmp_gets_through", forward: []string{relayUDP, relayTCP}, pingGroups: "0 2147483647", check: func(t *testing.T, r labReport) {
			expect(t, "UDP", r.UDP, false)
			expect(t, "ICMPv4", r.ICMPv4, true)
			expect(t, "RegionLatencyMethod[900]", r.RegionLatencyMethod["900"], "ICMP")
			expect(t, "CaptivePortal", fmtBool(r.CaptivePortal), "null")
		}, wantVerbose: "echo reply over a datagram socket"},
		{name: "udp_and_icmp_blocked", forward: []string{relayUDP, relayEcho}, check: func(t *testing.T, r labReport) {
			expect(t, "UDP", r.UDP, false)
			expect(t, "ICMPv4", r.ICMPv4, false)
			expect(t, "IPv4", r.IPv4, true)
			expect(t, "RegionLatencyMethod[900]", r.RegionLatencyMethod["900"], "HTTPS")
			expect(t, "PreferredDERP", r.PreferredDERP, 900)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rules := "flush chain ip filter forward\nflush chain ip filter input\nflush chain ip nat prerouting\n"
			for chain, rs := range map[string][]string{"ip filter forward": tc.forward, "ip filter input": tc.input, "ip nat prerouting": tc.prerouting} {
				for _, r := range rs {
					rules += "add rule " + chain + " " + r + "\n"
				}
			}
			lab.nft(rules)
			groups := "1 0" // the kernel's default: nobody
			if tc.pingGroups != "" {
				groups = tc.pingGroups
			}
			lab.exec(lab.client, "sh", "-c", "echo '"+groups+"' > /proc/sys/net/ipv4/ping_group_range")
			stdout, stderr := lab.netcheck("--json", "--verbose")
			var r labReport
			if err := json.Unmarshal([]byte(stdout), &r); err != nil {
				t.Fatalf("report is not JSON: %v\n%s", err, stdout)
			}
			tc.check(t, r)
			if tc.wantVerbose != "" && !strings.Contains(stderr, tc.wantVerbose) {
				t.Errorf("--verbose lacks %q:\n%s", tc.wantVerbose, stderr)
			}
			if t.Failed() {
				t.Logf("report:\n%s\nverbose:\n%s", stdout, stderr)
			}
		})
	}
	t.Run("text_report", func(t *testing.T) {
		lab.nft("flush chain ip filter forward\nflush chain ip filter input\nflush chain ip nat prerouting\n")
		stdout, _ := lab.netcheck()
		for _, want := range []string{
			"\t* UDP: true\n", "\t* IPv4: yes, " + nsGatewayUp + ":", "\t* PortMapping: UPnP, NAT-PMP, PCP\n",
			"\t* CaptivePortal: false\n", "\t* Nearest DERP: Namespace lab\n", "(Namespace lab) via STUN\n",
		} {
			if !strings.Contains(stdout, want) {
				t.Errorf("text report lacks %q:\n%s", want, stdout)
			}
		}
	})
}

func expect[T comparable](t *testing.T, field string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", field, got, want)
	}
}

func fmtBool(b *bool) string {
	if b == nil {
		return "null"
	}
	return strconv.FormatBool(*b)
}
