package interop

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"tailscale.com/types/key"
)

// TestAccessPolicyLive (relayctl only: derper has no access policy) runs
// a relay under a fleet policy with tags and an ACL, drives it with
// Tailscale's client library, then edits the policy while the clients
// stay connected.
func TestAccessPolicyLive(t *testing.T) {
	if !serverSelected(relayctlServer) {
		t.Skip("relayctl not selected")
	}
	t.Parallel()
	ops, srv, gone := key.NewNode(), key.NewNode(), key.NewNode()
	dir := t.TempDir()
	polDir := filepath.Join(dir, "policy.d")
	os.MkdirAll(polDir, 0o755)
	writePolicy := func(acls string, serverKeys ...key.NodePrivate) {
		body := fmt.Sprintf("tags:\n  tag:ops: [%s]\n  tag:servers: [", ops.Public())
		for i, k := range serverKeys {
			if i > 0 {
				body += ", "
			}
			body += k.Public().String()
		}
		body += "]\nacls:\n" + acls
		// Write beside and rename, as config management does.
		tmp := filepath.Join(dir, "fleet.yaml.tmp")
		if err := os.WriteFile(tmp, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(polDir, "fleet.yaml")); err != nil {
			t.Fatal(err)
		}
	}
	opsToServers := "  - {action: accept, src: [tag:ops], dst: [tag:servers]}\n"
	writePolicy(opsToServers, srv, gone)

	tcpPort, udpPort := freePorts(t)
	addr := "127.0.0.1:" + portString(tcpPort)
	p := startProcess(t, "relayctl", binaryFor(t, relayctlServer), nil, "serve", "--certmode", "none",
		"--addr", addr, "--stun-port", portString(udpPort), "--key-file", filepath.Join(dir, "key.json"),
		"--policy", polDir, "--log-format", "json")
	p.waitLog(t, 15*time.Second, `"relay listening"`)
	s := &server{kind: relayctlServer, httpAddr: addr, logs: p.logs, exited: p.exited}

	o := connectPeerAs(t, s, ops)
	sv := connectPeerAs(t, s, srv)
	g := connectPeerAs(t, s, gone)

	// An untagged key is turned away: EOF after ServerKey.
	if c, err := connectDERP(t.Context(), key.NewNode(), s.url("/derp"), msgTimeout); err == nil {
		defer c.Close()
		if _, err := c.Recv(); err == nil {
			t.Fatal("an untagged key was admitted")
		}
	}

	// servers → ops is denied; ops → servers is delivered. The denied
	// packet goes first: if it were relayed, it would arrive first.
	sv.send(t, ops.Public(), []byte("denied"))
	sv.send(t, gone.Public(), []byte("servers to servers: denied"))
	o.send(t, srv.Public(), []byte("allowed"))
	sv.expectPacket(t, ops.Public(), []byte("allowed"))
	o.send(t, gone.Public(), []byte("to gone"))
	g.expectPacket(t, ops.Public(), []byte("to gone"))

	// Live: servers may now answer ops, and "gone" leaves tag:servers.
	writePolicy(opsToServers+"  - {action: accept, src: [tag:servers], dst: [tag:ops]}\n", srv)
	p.waitLog(t, 10*time.Second, "access policy in force", `"disconnected":1`)
	select {
	case <-g.in.done: // the relay closed its connection
	case <-time.After(msgTimeout):
		t.Fatal("the client dropped from the policy is still connected")
	}
	sv.send(t, ops.Public(), []byte("now allowed"))
	o.expectPacket(t, srv.Public(), []byte("now allowed"))
}
