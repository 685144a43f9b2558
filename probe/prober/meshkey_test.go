package prober

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relayctl/relayctl/internal/derpmap"
	"github.com/relayctl/relayctl/probe/internal/probetest"
	"github.com/relayctl/relayctl/relay/key"
	"github.com/relayctl/relayctl/relay/wire"
)

// keyCatcher is a fake DERP node that records the mesh key each client
// sealed into its ClientInfo, then hangs up.
type keyCatcher struct {
	srv  *httptest.Server
	priv key.NodePrivate
	mu   sync.Mutex
	keys []key.MeshKey
}

func startKeyCatcher(t *testing.T, withTLS bool) *keyCatcher {
	t.Helper()
	kc := &keyCatcher{priv: key.NewNode()}
	kc.srv = httptest.NewUnstartedServer(http.HandlerFunc(kc.serve))
	if withTLS {
		cert, _ := probetest.SelfSignedCert(t, "localhost", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
		kc.srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
		kc.srv.StartTLS()
	} else {
		kc.srv.Start()
	}
	t.Cleanup(kc.srv.Close)
	return kc
}

func (kc *keyCatcher) serve(w http.ResponseWriter, r *http.Request) {
	nc, brw, err := w.(http.Hijacker).Hijack()
	if err != nil {
		return
	}
	defer nc.Close()
	fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: DERP\r\nConnection: Upgrade\r\n\r\n")
	wire.WriteFrame(brw.Writer, wire.FrameServerKey, wire.AppendServerKey(nil, kc.priv.Public()))
	brw.Flush()
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	typ, p, err := wire.ReadFrame(bufio.NewReader(brw), 1<<16, nil)
	if err != nil || typ != wire.FrameClientInfo {
		return
	}
	_, info, err := wire.OpenClientInfo(kc.priv, p)
	if err != nil {
		return
	}
	kc.mu.Lock()
	kc.keys = append(kc.keys, info.MeshKey)
	kc.mu.Unlock()
}

func (kc *keyCatcher) seen() []key.MeshKey {
	kc.mu.Lock()
	defer kc.mu.Unlock()
	return append([]key.MeshKey(nil), kc.keys...)
}

func (kc *keyCatcher) node(name string, region int) *derpmap.DERPNode {
	port := kc.srv.Listener.Addr().(*net.TCPAddr).Port
	n := &derpmap.DERPNode{Name: name, RegionID: region, HostName: "localhost", IPv4: "127.0.0.1", IPv6: "none", STUNPort: -1, DERPPort: port}
	if kc.srv.TLS != nil {
		n.CertName = probetest.CertPin(kc.srv.TLS.Certificates[0].Leaf)
	}
	return n
}

// TestMeshKeyOnlyToMeshRegions: a prober with a mesh key presents it to
// the nodes of the regions named in MeshRegions and to no other node: not
// to another region's node, not to an InsecureForTests node, not over
// plain HTTP beyond this host. (A fake node in the map used to print the
// real key.)
func TestMeshKeyOnlyToMeshRegions(t *testing.T) {
	meshKey, err := key.ParseMeshKey(strings.Repeat("ab", 32))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		tls      bool
		region   int
		insecure bool
		want     bool
	}{
		{"mesh_region_node", true, 900, false, true},
		{"other_region_node", true, 901, false, false},
		{"insecure_for_tests_node", true, 900, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			kc := startKeyCatcher(t, tc.tls)
			n := kc.node("n", tc.region)
			n.InsecureForTests = tc.insecure
			m := &derpmap.DERPMap{Regions: map[int]*derpmap.DERPRegion{tc.region: {RegionID: tc.region, RegionCode: "r", Nodes: []*derpmap.DERPNode{n}}}}
			p := New(Config{MeshKey: meshKey, MeshRegions: []int{900}})
			RunAll(t.Context(), p.Plan(m), RunOptions{Timeout: 2 * time.Second})
			seen := kc.seen()
			if len(seen) == 0 {
				t.Fatal("the fake node saw no ClientInfo")
			}
			for _, k := range seen {
				if got := k == meshKey; got != tc.want {
					t.Fatalf("node got the mesh key: %v, want %v", got, tc.want)
				}
			}
		})
	}
}

func TestCheckMeshKey(t *testing.T) {
	meshKey, _ := key.ParseMeshKey(strings.Repeat("ab", 32))
	node := func(name, host string, insecure bool) *derpmap.DERPNode {
		return &derpmap.DERPNode{Name: name, RegionID: 900, HostName: host, InsecureForTests: insecure}
	}
	tests := []struct {
		name    string
		cfg     Config
		nodes   []*derpmap.DERPNode
		wantErr string
	}{
		{"no_key", Config{}, []*derpmap.DERPNode{node("a", "derp.example", true)}, ""},
		{"fine", Config{MeshKey: meshKey, MeshRegions: []int{900}}, []*derpmap.DERPNode{node("a", "derp.example", false)}, ""},
		{"insecure", Config{MeshKey: meshKey, MeshRegions: []int{900}}, []*derpmap.DERPNode{node("a", "derp.example", true)}, "node a: InsecureForTests"},
		{"plain_http_remote", Config{MeshKey: meshKey, MeshRegions: []int{900}, PlainHTTP: true}, []*derpmap.DERPNode{node("a", "10.0.0.2", false)}, "node a: plain HTTP"},
		{"plain_http_loopback", Config{MeshKey: meshKey, MeshRegions: []int{900}, PlainHTTP: true}, []*derpmap.DERPNode{node("a", "127.0.0.1", false)}, ""},
		{"missing_region", Config{MeshKey: meshKey, MeshRegions: []int{905}}, []*derpmap.DERPNode{node("a", "derp.example", false)}, "region 905 is not in the DERP map"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := &derpmap.DERPMap{Regions: map[int]*derpmap.DERPRegion{900: {RegionID: 900, Nodes: tc.nodes}}}
			err := tc.cfg.CheckMeshKey(m)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want %q", err, tc.wantErr)
			}
		})
	}
}
