package interop

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"tailscale.com/tailcfg"
	"tailscale.com/types/key"
)

// TestPrune runs the real `relayctl prune` binary against a relayctl node
// and a derper node (TLS with a certgen certificate, trusted by
// --cert-name; a mesh key, no mesh peers) with Tailscale region clients
// connected: prune must do the same to both.
func TestPrune(t *testing.T) {
	for _, k := range selectedKinds() {
		t.Run(string(k), func(t *testing.T) {
			t.Parallel()
			testPrune(t, k)
		})
	}
}

func testPrune(t *testing.T, k serverKind) {
	meshKey := writeMeshKey(t)
	n := newRegionNode(t, k, "900a", "127.0.0.1")
	n.meshKeyFile = meshKey
	n.start(t)

	region := regionOf(n)
	target := mustConnectRegionPeer(t, region)
	keep1 := mustConnectRegionPeer(t, region)
	keep2 := mustConnectRegionPeer(t, region)
	// The map names a dead node first, so derphttp lands on n and sends
	// Ideal-Node: n flags the connection not-ideal.
	deadPort, _ := freePorts(t)
	dead := n.derpNode()
	dead.Name, dead.DERPPort = "900z", deadPort
	straggler := mustConnectRegionPeer(t, &tailcfg.DERPRegion{RegionID: 900, RegionCode: "test",
		Nodes: []*tailcfg.DERPNode{dead, n.derpNode()}})

	t.Run("list", func(t *testing.T) {
		rep := runPruneJSON(t, n, meshKey, "--list")
		want := map[key.NodePublic][]string{
			target.pub: {"regular"}, keep1.pub: {"regular"}, keep2.pub: {"regular"}, straggler.pub: {"not-ideal"},
		}
		for _, p := range rep.Peers {
			if p.Action != "keep" {
				t.Errorf("--list: peer %s has action %q, want keep", p.Key.ShortString(), p.Action)
			}
			if flags, ok := want[p.Key]; ok {
				if !slices.Equal(p.Flags, flags) {
					t.Errorf("--list: peer %s flags %v, want %v", p.Key.ShortString(), p.Flags, flags)
				}
				if !strings.HasPrefix(p.Addr, "127.0.0.1:") {
					t.Errorf("--list: peer %s address %q, want 127.0.0.1:port", p.Key.ShortString(), p.Addr)
				}
				delete(want, p.Key)
			}
		}
		for k := range want {
			t.Errorf("--list does not show %s\n%+v", k.ShortString(), rep)
		}
	})

	t.Run("peer", func(t *testing.T) {
		rep := runPruneJSON(t, n, meshKey, "--peer", target.pub.String())
		for _, p := range rep.Peers {
			want := "keep"
			if p.Key == target.pub {
				want = "closed"
			}
			if p.Action != want {
				t.Errorf("--peer: %s action %q, want %q", p.Key.ShortString(), p.Action, want)
			}
		}
		expectDropped(t, target)
		exchange(t, keep1, keep2)
		expectConnected(t, keep1, keep2, straggler)
	})

	t.Run("not_ideal", func(t *testing.T) {
		rep := runPruneJSON(t, n, meshKey, "--not-ideal")
		closed := 0
		for _, p := range rep.Peers {
			switch {
			case p.Key == straggler.pub && p.Action == "closed":
				closed++
			case p.Key != straggler.pub && p.Action != "keep":
				t.Errorf("--not-ideal chose %s (%v): %q", p.Key.ShortString(), p.Flags, p.Action)
			}
		}
		if closed != 1 {
			t.Errorf("--not-ideal did not close the straggler\n%+v", rep)
		}
		expectDropped(t, straggler)
		exchange(t, keep1, keep2)
		expectConnected(t, keep1, keep2)
	})

	t.Run("wrong_mesh_key", func(t *testing.T) {
		code, stdout, stderr := runPrune(t, n, writeMeshKey(t), "--peer", keep1.pub.String())
		if code != 1 || !strings.Contains(stderr, "mesh key") {
			t.Errorf("exit %d, stderr %q; want 1 and a message about the mesh key (stdout %q)", code, stderr, stdout)
		}
		exchange(t, keep1, keep2)
	})

	t.Run("absent_peer", func(t *testing.T) {
		absent := key.NewNode().Public()
		code, _, stderr := runPrune(t, n, meshKey, "--peer", absent.String())
		if code != 1 || !strings.Contains(stderr, absent.String()) {
			t.Errorf("exit %d, stderr %q; want 1 naming the absent key", code, stderr)
		}
		expectConnected(t, keep1, keep2)
	})
}

// runPrune runs `relayctl prune --server https://n --cert-name pin
// --mesh-psk-file f args…` and returns its exit code and output.
func runPrune(t *testing.T, n *regionNode, meshKeyFile string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	full := append([]string{"prune", "--server", "https://" + n.addr(), "--cert-name", n.pin,
		"--mesh-psk-file", meshKeyFile, "--timeout", "10s"}, args...)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	return runRelayctlCLI(ctx, t, full...)
}

// expectDropped waits for p's connection to end: the relay closed it.
func expectDropped(t *testing.T, p *peer) {
	t.Helper()
	select {
	case <-p.in.done:
	case <-time.After(msgTimeout):
		t.Fatalf("peer %s still connected %v after prune closed it", p.pub.ShortString(), msgTimeout)
	}
}

// expectConnected requires that none of ps has lost its connection.
func expectConnected(t *testing.T, ps ...*peer) {
	t.Helper()
	for _, p := range ps {
		select {
		case <-p.in.done:
			t.Errorf("peer %s lost its connection: %v", p.pub.ShortString(), p.in.err)
		default:
		}
	}
}
