package cmd

import (
	"context"
	"encoding/json"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/relayctl/relayctl/config/configtest"
	"github.com/relayctl/relayctl/internal/derpmap"
	"github.com/relayctl/relayctl/internal/syncbuf"
)

// runRelayctl runs relayctl args… until its stderr contains until (then
// cancels it) or it exits; it returns the exit code and both streams.
func runRelayctl(t *testing.T, until string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	out, errOut, done := goRelayctl(ctx, args)
	deadline := time.After(20 * time.Second)
	for {
		select {
		case code = <-done:
			return code, out.String(), errOut.String()
		case <-deadline:
			t.Fatalf("relayctl %s: no %q within 20s; stderr:\n%s", strings.Join(args, " "), until, errOut.String())
		case <-time.After(10 * time.Millisecond):
			if until != "" && strings.Contains(errOut.String(), until) {
				cancel()
				return <-done, out.String(), errOut.String()
			}
		}
	}
}

// goRelayctl runs relayctl args… in the background until it exits or ctx
// ends; done yields its exit code once and is then closed.
func goRelayctl(ctx context.Context, args []string) (out, errOut *syncbuf.Buffer, done <-chan int) {
	out, errOut = new(syncbuf.Buffer), new(syncbuf.Buffer)
	exited := make(chan int, 1)
	go func() {
		defer close(exited)
		root := NewRootCmd(IOStreams{In: strings.NewReader(""), Out: out, ErrOut: errOut})
		root.SetArgs(args)
		err := root.ExecuteContext(ctx)
		if err != nil {
			errOut.Write([]byte("relayctl: " + err.Error() + "\n"))
		}
		exited <- ExitCode(err)
	}()
	return out, errOut, exited
}

// printedMap extracts the DERP map serve prints for a self-signed
// certificate.
func printedMap(t *testing.T, stderr string) *derpmap.DERPMap {
	t.Helper()
	_, rest, ok := strings.Cut(stderr, "(derpMap):\n\n")
	body, _, ok2 := strings.Cut(rest, "=== end of DERP map ===")
	if !ok || !ok2 {
		t.Fatalf("no DERP map in stderr:\n%s", stderr)
	}
	var m derpmap.DERPMap
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("printed map: %v\n%s", err, body)
	}
	return &m
}

// TestServePrintsItsOwnDERPMap: the map serve prints for a self-signed IP
// relay carries the relay's region, node name and the ports it is bound
// to, not region 900, "900a" and the flags' port 0.
func TestServePrintsItsOwnDERPMap(t *testing.T) {
	dir := configtest.Isolate(t)
	code, _, stderr := runRelayctl(t, "relay listening", "serve", "--certmode", "manual", "--hostname", "127.0.0.1",
		"--region-id", "905", "--node-name", "foo", "--addr", "127.0.0.1:0", "--stun-port", "0", "--http-port", "-1",
		"--certdir", filepath.Join(dir, "certs"), "--key-file", filepath.Join(dir, "k.json"))
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	m := printedMap(t, stderr)
	r, ok := m.Regions[905]
	if !ok || len(r.Nodes) != 1 {
		t.Fatalf("regions %v, want one node in 905", m.Regions)
	}
	n := r.Nodes[0]
	if n.Name != "foo" || n.RegionID != 905 {
		t.Errorf("node %q in region %d, want foo in 905", n.Name, n.RegionID)
	}
	if want := listenedPort(t, stderr, "relay listening", "addr"); n.DERPPort != want {
		t.Errorf("DERPPort %d, the relay listens on %d", n.DERPPort, want)
	}
	if want := listenedPort(t, stderr, "STUN server listening", "addr"); n.STUNPort != want {
		t.Errorf("STUNPort %d, STUN listens on %d", n.STUNPort, want)
	}
}

// listenedPort finds key=host:port on the log line containing msg.
func listenedPort(t *testing.T, stderr, msg, key string) int {
	t.Helper()
	for _, line := range strings.Split(stderr, "\n") {
		if !strings.Contains(line, msg) {
			continue
		}
		for _, f := range strings.Fields(line) {
			if v, ok := strings.CutPrefix(f, key+"="); ok {
				_, port, err := net.SplitHostPort(v)
				if err == nil {
					n, _ := strconv.Atoi(port)
					return n
				}
			}
		}
	}
	t.Fatalf("no %s=… on a %q line:\n%s", key, msg, stderr)
	return 0
}

// TestListenersFailAlike: a port in use fails serve with exit 1 for every
// listener, before the DERP map is printed, with the setting's name and a
// hint; an address not on this host gets its own hint.
func TestListenersFailAlike(t *testing.T) {
	dir := configtest.Isolate(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyUDP, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busyUDP.Close()
	busyPort := strconv.Itoa(portOf(busy.Addr()))
	busyUDPPort := strconv.Itoa(portOf(busyUDP.LocalAddr()))
	base := []string{"serve", "--certmode", "manual", "--hostname", "127.0.0.1", "--certdir", filepath.Join(dir, "certs"),
		"--key-file", filepath.Join(dir, "k.json")}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"addr", []string{"--addr", "127.0.0.1:" + busyPort, "--http-port", "-1", "--stun-port", "0"}, "--addr: "},
		{"http_port", []string{"--addr", "127.0.0.1:0", "--http-port", busyPort, "--stun-port", "0"}, "--http-port: "},
		{"stun_port", []string{"--addr", "127.0.0.1:0", "--http-port", "-1", "--stun-port", busyUDPPort}, "--stun-port: "},
		{"metrics_addr", []string{"--addr", "127.0.0.1:0", "--http-port", "-1", "--stun-port", "0", "--metrics-addr", "127.0.0.1:" + busyPort}, "--metrics-addr: "},
		{"debug_addr", []string{"--addr", "127.0.0.1:0", "--http-port", "-1", "--stun-port", "0", "--debug-addr", "127.0.0.1:" + busyPort}, "--debug-addr: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runRelayctl(t, "relay listening", append(base, tc.args...)...)
			if code != 1 {
				t.Errorf("exit %d, want 1 (an operation failed)", code)
			}
			if !strings.Contains(stderr, tc.want) || !strings.Contains(stderr, "address already in use") || !strings.Contains(stderr, "choose another with "+strings.TrimSuffix(tc.want, ": ")) {
				t.Errorf("stderr lacks %q and the in-use hint:\n%s", tc.want, stderr)
			}
			if strings.Contains(stderr, "self-signed certificate for") {
				t.Errorf("the DERP map was printed before the port was found in use:\n%s", stderr)
			}
		})
	}
	t.Run("not_this_hosts_address", func(t *testing.T) {
		code, _, stderr := runRelayctl(t, "relay listening", append(base, "--addr", "192.0.2.1:0", "--http-port", "-1", "--stun=false")...)
		if code != 1 || !strings.Contains(stderr, "the address is not one of this host's") {
			t.Errorf("exit %d, stderr:\n%s", code, stderr)
		}
	})
}

// portOf is the port of a bound address.
func portOf(a net.Addr) int { return int(netip.MustParseAddrPort(a.String()).Port()) }
