package server_test

import (
	"testing"

	"github.com/relayctl/relayctl/relay/client"
	"github.com/relayctl/relayctl/relay/key"
	"github.com/relayctl/relayctl/relay/server"
)

// TestDuplicateKeyLastWriterIsActive checks derper's policy: the newest
// connection of a key gets its packets until an older one sends a frame;
// when the active one leaves, the other takes over.
func TestDuplicateKeyLastWriterIsActive(t *testing.T) {
	r := newTestRelay(t, server.Options{})
	sender := r.connect(client.Options{})
	dupKey := key.NewNode()
	old := r.connect(client.Options{}, dupKey)
	newer := r.connect(client.Options{}, dupKey)
	r.waitFor("3 connections", func() bool { return r.srv.ConnCount() == 3 })

	send := func(msg string) {
		t.Helper()
		if err := sender.Send(dupKey.Public(), []byte(msg)); err != nil {
			t.Fatal(err)
		}
	}
	send("to newest")
	if _, got := recvPacket(t, newer); string(got) != "to newest" {
		t.Fatalf("newest got %q", got)
	}
	// The old connection speaks (a ping), and so becomes active.
	if err := old.SendPing([8]byte{1}); err != nil {
		t.Fatal(err)
	}
	if m := recvMessage(t, old); m != (client.Pong{Data: [8]byte{1}}) {
		t.Fatalf("old got %T %+v, want its pong", m, m)
	}
	send("to old")
	if _, got := recvPacket(t, old); string(got) != "to old" {
		t.Fatalf("old got %q", got)
	}
	if got := r.metric("derp_current_dup_client_keys"); got != "1" {
		t.Errorf("derp_current_dup_client_keys = %s, want 1", got)
	}
	// The active one leaves: the remaining one is the only one, and active.
	old.Close()
	r.waitFor("old unregistered", func() bool { return r.srv.ConnCount() == 2 })
	send("to remaining")
	if _, got := recvPacket(t, newer); string(got) != "to remaining" {
		t.Fatalf("remaining got %q", got)
	}
	if got := r.metric("derp_current_dup_client_keys"); got != "0" {
		t.Errorf("derp_current_dup_client_keys = %s, want 0", got)
	}
}
