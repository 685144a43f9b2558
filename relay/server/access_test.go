package server_test

import (
	"testing"

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
