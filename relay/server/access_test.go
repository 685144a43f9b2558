package server_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/relayctl/relayctl/internal/syncbuf"
	"github.com/relayctl/relayctl/relay/client"
	"github.com/relayctl/relayctl/relay/key"
	"github.com/relayctl/relayctl/relay/server"
)

func TestAccessPolicy(t *testing.T) {
	r := newTestRelay(t, server.Options{})
	ops, srv, other := key.NewNode(), key.NewNode(), key.NewNode()
	policy := &server.AccessPolicy{
		Tags: map[string][]key.NodePublic{
			"tag:ops":     {ops.Public()},
			"tag:servers": {srv.Public(), other.Public()},
		},
		Rules: []server.AccessRule{{Src: []string{"tag:ops"}, Dst: []string{"tag:servers"}}},
	}
	if _, err := r.srv.SetAccessPolicy(policy); err != nil {
		t.Fatal(err)
	}
	o := r.connect(client.Options{}, ops)
	s := r.connect(client.Options{}, srv)
	x := r.connect(client.Options{}, other)

	// ops → servers is accepted; servers → ops is not.
	if err := s.Send(ops.Public(), []byte("denied")); err != nil {
		t.Fatal(err)
	}
	if err := o.Send(srv.Public(), []byte("allowed")); err != nil {
		t.Fatal(err)
	}
	if _, got := recvPacket(t, s); string(got) != "allowed" {
		t.Fatalf("got %q", got)
	}
	if err := x.Send(ops.Public(), []byte("denied too")); err != nil {
		t.Fatal(err)
	}
	if err := s.Send(x.PublicKey(), []byte("servers to servers: denied")); err != nil {
		t.Fatal(err)
	}
	if err := o.Send(x.PublicKey(), []byte("ops to x")); err != nil {
		t.Fatal(err)
	}
	if _, got := recvPacket(t, x); string(got) != "ops to x" {
		t.Fatalf("x got %q first; denied packets must not arrive", got)
	}
	// The denied packets came over two other connections: wait until the
	// relay has read (and dropped) all three.
	r.waitFor("three acl_denied drops", func() bool {
		return r.metric(`derp_packets_dropped{reason="acl_denied",kind="other"}`) == "3"
	})

	// An untagged key cannot connect.
	nc := r.dialRaw()
	if _, err := client.NewClient(t.Context(), nc, nil, key.NewNode(), client.Options{}); err == nil {
		t.Fatal("an untagged key completed the handshake")
	}

	// Live change: "other" leaves every tag and is disconnected at once;
	// the rest stay and keep working under the new rules.
	policy.Tags["tag:servers"] = []key.NodePublic{srv.Public()}
	policy.Rules = append(policy.Rules, server.AccessRule{Src: []string{"tag:servers"}, Dst: []string{"*"}})
	closed, err := r.srv.SetAccessPolicy(policy)
	if err != nil || closed != 1 {
		t.Fatalf("SetAccessPolicy closed %d, %v; want 1", closed, err)
	}
	expectClosed(t, x)
	if err := s.Send(ops.Public(), []byte("now allowed")); err != nil {
		t.Fatal(err)
	}
	if _, got := recvPacket(t, o); string(got) != "now allowed" {
		t.Fatalf("got %q", got)
	}

	// Removing the policy admits everyone again.
	if _, err := r.srv.SetAccessPolicy(nil); err != nil {
		t.Fatal(err)
	}
	r.connect(client.Options{}, key.NewNode())
}

func TestAccessPolicyErrors(t *testing.T) {
	r := newTestRelay(t, server.Options{})
	for _, p := range []*server.AccessPolicy{
		{Tags: map[string][]key.NodePublic{"ops": nil}},
		{Rules: []server.AccessRule{{Src: []string{"tag:nope"}, Dst: []string{"*"}}}},
		{Rules: []server.AccessRule{{Src: []string{"*"}, Dst: []string{"nodekey:zz"}}}},
		{Rules: []server.AccessRule{{Src: nil, Dst: []string{"*"}}}},
	} {
		if _, err := r.srv.SetAccessPolicy(p); err == nil {
			t.Errorf("accepted %+v", p)
		}
	}
}

// TestAccessPolicyRevokedDuringAdmission: a client that passed the tag
// check and waits on the admission webhook while the policy changes must
// not register under a policy that no longer admits it.
func TestAccessPolicyRevokedDuringAdmission(t *testing.T) {
	asked := make(chan struct{})
	release := make(chan struct{})
	r := newTestRelay(t, server.Options{Admit: func(ctx context.Context, req server.AdmitRequest) error {
		close(asked)
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil
	}})
	late, other := key.NewNode(), key.NewNode()
	tagged := func(keys ...key.NodePublic) *server.AccessPolicy {
		return &server.AccessPolicy{Tags: map[string][]key.NodePublic{"tag:ok": keys}}
	}
	if _, err := r.srv.SetAccessPolicy(tagged(late.Public(), other.Public())); err != nil {
		t.Fatal(err)
	}
	nc := r.dialRaw()
	connected := make(chan error, 1)
	go func() {
		c, err := client.NewClient(t.Context(), nc, nil, late, client.Options{})
		if err == nil {
			c.Close()
		}
		connected <- err
	}()
	<-asked
	if _, err := r.srv.SetAccessPolicy(tagged(other.Public())); err != nil {
		t.Fatal(err)
	}
	close(release)
	if err := <-connected; err == nil {
		t.Fatal("a client the new policy does not admit completed the handshake")
	}
	if n := r.srv.ConnCount(); n != 0 {
		t.Fatalf("%d connections registered, want 0", n)
	}
}

// TestRejectedWrongMeshKeySaysSo: a mesh peer with another mesh key is a
// regular client to the relay, which its access policy then refuses; the
// log names the mesh key, the one thing to fix.
func TestRejectedWrongMeshKeySaysSo(t *testing.T) {
	var logs syncbuf.Buffer
	r := newTestRelay(t, server.Options{
		MeshKey: key.NewMesh(),
		Logger:  slog.New(slog.NewTextHandler(&logs, nil)),
	})
	tagged := key.NewNode()
	if _, err := r.srv.SetAccessPolicy(&server.AccessPolicy{Tags: map[string][]key.NodePublic{"tag:ok": {tagged.Public()}}}); err != nil {
		t.Fatal(err)
	}
	nc := r.dialRaw()
	if _, err := client.NewClient(t.Context(), nc, nil, key.NewNode(), client.Options{MeshKey: key.NewMesh()}); err == nil {
		t.Fatal("an untagged client with a wrong mesh key completed the handshake")
	}
	r.waitFor("the rejection logged", func() bool { return strings.Contains(logs.String(), "handshake failed") })
	if !strings.Contains(logs.String(), "check --mesh-psk-file on both nodes") {
		t.Fatalf("the rejection does not name the mesh key:\n%s", logs.String())
	}
}
