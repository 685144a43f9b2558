package loadgen

import (
	"context"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/relayctl/relayctl/relay/key"
	"github.com/relayctl/relayctl/relay/mesh"
	"github.com/relayctl/relayctl/relay/server"
	"github.com/relayctl/relayctl/relay/web"
)

// startMeshedPair starts two in-process relays meshed with each other.
func startMeshedPair(t *testing.T) (a, b testRelay) {
	t.Helper()
	mk := key.NewMesh()
	ctx, cancel := context.WithCancel(context.Background())
	var relays [2]testRelay
	var privs [2]key.NodePrivate
	var done []chan struct{}
	for i := range relays {
		privs[i] = key.NewNode()
		srv, err := server.New(server.Options{PrivateKey: privs[i], MeshKey: mk})
		if err != nil {
			t.Fatal(err)
		}
		hs := httptest.NewServer(web.DERPHandler(ctx, srv, nil))
		relays[i] = testRelay{srv: srv, target: Target{URL: hs.URL, ServerPID: os.Getpid()}}
		t.Cleanup(func() {
			hs.CloseClientConnections()
			hs.Close()
			srv.Close()
		})
	}
	for i, r := range relays {
		peer, err := mesh.ParsePeer(relays[1-i].target.URL)
		if err != nil {
			t.Fatal(err)
		}
		m, err := mesh.New(mesh.Options{Server: r.srv, PrivateKey: privs[i], MeshKey: mk, Peers: []mesh.Peer{peer}})
		if err != nil {
			t.Fatal(err)
		}
		d := make(chan struct{})
		done = append(done, d)
		go func() { defer close(d); m.Run(ctx) }()
	}
	t.Cleanup(func() {
		cancel()
		for _, d := range done {
			<-d
		}
	})
	return relays[0], relays[1]
}

// TestRunThroughputMeshed: with Receivers set, every delivered packet
// crossed the mesh, and the CPU figures cover both nodes.
func TestRunThroughputMeshed(t *testing.T) {
	a, b := startMeshedPair(t)
	cfg := DefaultThroughputConfig()
	cfg.Target, cfg.Receivers = a.target, &b.target
	cfg.Pairs, cfg.Window = 2, 4
	cfg.Duration, cfg.Warmup, cfg.IdlePing, cfg.PingInterval = 300*time.Millisecond, 50*time.Millisecond, 100*time.Millisecond, 5*time.Millisecond
	res, err := RunThroughput(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Delivered == 0 || res.RTTLoad == nil || res.RTTLoad.Samples == 0 {
		t.Fatalf("nothing delivered or timed across the mesh: %+v", res)
	}
	var local strings.Builder
	b.srv.Metrics().WritePrometheus(&local)
	if strings.Contains(local.String(), "\nderp_packets_forwarded_in 0\n") {
		t.Fatal("the receivers' node got no forwarded packet")
	}
	if res.Server == nil || res.ReceiversNode == nil || res.Server.Seconds < res.ReceiversNode.Seconds {
		t.Fatalf("server CPU %+v, receivers' node %+v: want both, the first the sum", res.Server, res.ReceiversNode)
	}
}
