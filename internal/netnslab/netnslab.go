// Package netnslab builds, for tests, a small network out of Linux network
// namespaces joined by veth pairs, so that a client meets a real NAT, real
// packet filters and a real gateway:
//
//	client ns              gateway ns                         relay ns
//	c0 10.201.1.2/24 ───── gc 10.201.1.1/24  gr 10.201.2.1/24 ───── r0 10.201.2.2/24
//	default via .1.1       masquerade out of gr                 (the test's relay)
//	                       NAT-PMP/PCP :5351, SSDP :1900
//	                       captive interceptor :8080
//
// The gateway's services run in the test process, on sockets opened inside
// the gateway namespace (InNetns); faults are nftables rules in the
// gateway (SetFaults). It needs root, ip (iproute2) and nft (nftables);
// New skips the test, saying why, without them.
package netnslab

import (
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

// Addresses in the lab.
const (
	ClientIP  = "10.201.1.2"
	GatewayIn = "10.201.1.1" // the client's default gateway
	GatewayUp = "10.201.2.1" // the NAT's public side: what the relay sees
	RelayIP   = "10.201.2.2"
)

// Lab is the three namespaces, by name.
type Lab struct {
	t                      testing.TB
	Client, Gateway, Relay string
}

// New builds the lab and removes it when the test ends.
func New(t testing.TB) *Lab {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("network namespace tests need root (CI runs as root)")
	}
	for _, tool := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("network namespace tests need %s: %v (Debian: iproute2, nftables)", tool, err)
		}
	}
	suffix := strconv.Itoa(os.Getpid())
	l := &Lab{t: t, Client: "rcnc-c-" + suffix, Gateway: "rcnc-g-" + suffix, Relay: "rcnc-r-" + suffix}
	for _, ns := range []string{l.Client, l.Gateway, l.Relay} {
		if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
			t.Skipf("ip netns add: %v: %s (no network namespaces here)", err, out)
		}
		t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	}
	// No DNS in the lab: ip netns exec mounts /etc/netns/<ns>/resolv.conf
	// over /etc/resolv.conf, and a resolver on the client's own loopback
	// that is not there fails at once instead of timing out.
	etc := filepath.Join("/etc/netns", l.Client)
	if err := os.MkdirAll(etc, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(etc) })
	if err := os.WriteFile(filepath.Join(etc, "resolv.conf"), []byte("nameserver 127.0.0.1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Created inside the namespaces: no names in the host's namespace
	// to collide with another run's.
	l.ip("link", "add", "c0", "netns", l.Client, "type", "veth", "peer", "name", "gc", "netns", l.Gateway)
	l.ip("link", "add", "r0", "netns", l.Relay, "type", "veth", "peer", "name", "gr", "netns", l.Gateway)
	for _, a := range []struct{ ns, dev, addr string }{
		{l.Client, "c0", ClientIP + "/24"},
		{l.Gateway, "gc", GatewayIn + "/24"},
		{l.Gateway, "gr", GatewayUp + "/24"},
		{l.Relay, "r0", RelayIP + "/24"},
	} {
		l.ip("-n", a.ns, "addr", "add", a.addr, "dev", a.dev)
		l.ip("-n", a.ns, "link", "set", a.dev, "up")
		l.ip("-n", a.ns, "link", "set", "lo", "up")
	}
	l.ip("-n", l.Client, "route", "add", "default", "via", GatewayIn)
	l.ip("-n", l.Relay, "route", "add", "default", "via", GatewayUp)
	l.Exec(l.Gateway, "sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward")
	l.nft(`
table ip nat {
	chain prerouting { type nat hook prerouting priority dstnat; }
	chain postrouting { type nat hook postrouting priority srcnat; oifname "gr" masquerade; }
}
table ip filter {
	chain forward { type filter hook forward priority filter; }
	chain input { type filter hook input priority filter; }
}`)
	return l
}

func (l *Lab) ip(args ...string) {
	l.t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		l.t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// Exec runs a command inside ns and fails the test if it fails.
func (l *Lab) Exec(ns string, args ...string) {
	l.t.Helper()
	if out, err := l.Command(ns, args...).CombinedOutput(); err != nil {
		l.t.Fatalf("in %s: %s: %v: %s", ns, strings.Join(args, " "), err, out)
	}
}

// Command is args to be run inside ns; it is killed when the test ends.
func (l *Lab) Command(ns string, args ...string) *exec.Cmd {
	return exec.CommandContext(l.t.Context(), "ip", append([]string{"netns", "exec", ns}, args...)...)
}

func (l *Lab) nft(rules string) {
	l.t.Helper()
	cmd := l.Command(l.Gateway, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		l.t.Fatalf("nft -f: %v: %s\n%s", err, out, rules)
	}
}

// Faults are nftables rules for the gateway, by chain, in nft's syntax.
type Faults struct {
	Forward    []string // traffic through the gateway (to the relay)
	Input      []string // traffic to the gateway itself
	Prerouting []string // destination NAT (redirects)
}

// Rules to build faults from.
var (
	DropRelayUDP  = "ip daddr " + RelayIP + " meta l4proto udp drop"
	DropRelayEcho = "ip daddr " + RelayIP + " icmp type echo-request drop"
	ResetRelayTCP = "ip daddr " + RelayIP + " meta l4proto tcp reject with tcp reset"
	DropPortMap   = "udp dport { 1900, 5351 } drop"
	// CaptivePortal sends the client's port-80 connections to the
	// interceptor StartGatewayServices runs.
	CaptivePortal = `iifname "gc" tcp dport 80 redirect to :8080`
)

// SetFaults replaces the gateway's fault rules.
func (l *Lab) SetFaults(f Faults) {
	l.t.Helper()
	var b strings.Builder
	b.WriteString("flush chain ip filter forward\nflush chain ip filter input\nflush chain ip nat prerouting\n")
	for _, c := range []struct {
		chain string
		rules []string
	}{{"ip filter forward", f.Forward}, {"ip filter input", f.Input}, {"ip nat prerouting", f.Prerouting}} {
		for _, r := range c.rules {
			fmt.Fprintf(&b, "add rule %s %s\n", c.chain, r)
		}
	}
	l.nft(b.String())
}

// SetPingGroups sets the client's net.ipv4.ping_group_range: "1 0" (the
// kernel's default) lets no group open an unprivileged ICMP socket.
func (l *Lab) SetPingGroups(r string) {
	l.t.Helper()
	l.Exec(l.Client, "sh", "-c", "echo '"+r+"' > /proc/sys/net/ipv4/ping_group_range")
}

// InNetns runs fn on an OS thread moved into ns. Sockets fn opens stay in
// ns after the thread moves back, so servers keep serving there.
func InNetns(ns string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer orig.Close()
		target, err := os.Open("/run/netns/" + ns)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("setns %s: %w", ns, err)
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

// WaitRelay waits until the client reaches the relay's TCP port through
// the gateway, or exited closes (the relay died), or 20 s pass.
func (l *Lab) WaitRelay(port int, exited <-chan struct{}, logs func() string) {
	l.t.Helper()
	addr := net.JoinHostPort(RelayIP, strconv.Itoa(port))
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := InNetns(l.Client, func() error {
			c, err := net.DialTimeout("tcp", addr, time.Second)
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
			l.t.Fatalf("the relay exited: %s", logs())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			l.t.Fatalf("relay %s not reachable from the client namespace: %v\n%s", addr, err, logs())
		}
	}
}

// StartGatewayServices runs, inside the gateway namespace, fakegateway's
// NAT-PMP/PCP and SSDP responders (all three protocols offered) and the
// captive interceptor: a portal's own 204, without the relay's challenge
// response, on :8080.
func (l *Lab) StartGatewayServices() {
	l.t.Helper()
	var pxp, ssdp *net.UDPConn
	var portal net.Listener
	err := InNetns(l.Gateway, func() error {
		var err error
		if pxp, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(GatewayIn), Port: 5351}); err != nil {
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
		w.WriteHeader(http.StatusNoContent)
	})}
	l.t.Cleanup(func() { pxp.Close(); ssdp.Close(); srv.Close() })
	go fakegateway.ServePXP(pxp, fakegateway.Services{PMP: true, PCP: true, PublicIP: netip.MustParseAddr(GatewayUp)})
	go fakegateway.ServeSSDP(ssdp, "http://"+GatewayIn+":5000/rootDesc.xml")
	go srv.Serve(portal)
}

// DERPMap is a one-region DERP map for the lab's relay: plain HTTP DERP
// and /generate_204 on port 80, STUN on 3478.
const DERPMap = `{"Regions":{"900":{"RegionID":900,"RegionCode":"lab","RegionName":"Namespace lab","Nodes":[` +
	`{"Name":"900a","RegionID":900,"HostName":"` + RelayIP + `","IPv4":"` + RelayIP + `","IPv6":"none",` +
	`"DERPPort":80,"STUNPort":3478,"CanPort80":true}]}}}`

// Scenario is one way the path can be broken.
type Scenario struct {
	Name   string
	Faults Faults
	// PingGroups is the client's net.ipv4.ping_group_range; empty
	// means the kernel's default, "1 0".
	PingGroups string
}

// Scenarios are the faults the netcheck tests run through, one at a time.
var Scenarios = []Scenario{
	{Name: "open_path"},
	{Name: "no_port_mapping", Faults: Faults{Input: []string{DropPortMap}}},
	{Name: "captive_portal", Faults: Faults{Prerouting: []string{CaptivePortal}}},
	{Name: "udp_blocked", Faults: Faults{Forward: []string{DropRelayUDP}}},
	// Unprivileged ICMP: every group may open a datagram ICMP socket.
	{Name: "only_icmp_gets_through", Faults: Faults{Forward: []string{DropRelayUDP, ResetRelayTCP}}, PingGroups: "0 2147483647"},
	{Name: "udp_and_icmp_blocked", Faults: Faults{Forward: []string{DropRelayUDP, DropRelayEcho}}},
}

// Apply sets up the lab for s.
func (l *Lab) Apply(s Scenario) {
	l.t.Helper()
	l.SetFaults(s.Faults)
	groups := s.PingGroups
	if groups == "" {
		groups = "1 0"
	}
	l.SetPingGroups(groups)
}
