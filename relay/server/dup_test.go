package server_test

import (
	"testing"
	"time"

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

// pingOK sends a ping and waits for its pong: once it returns, the server
// has seen a frame from c.
func pingOK(t *testing.T, c *client.Client, n byte) {
	t.Helper()
	if err := c.SendPing([8]byte{n}); err != nil {
		t.Fatal(err)
	}
	if m := recvMessage(t, c); m != (client.Pong{Data: [8]byte{n}}) {
		t.Fatalf("got %T %+v, want pong %d", m, m, n)
	}
}

// TestDuplicateKeySendHistoryBounded: connections of one key that take
// turns sending must not grow the server's memory with every turn.
func TestDuplicateKeySendHistoryBounded(t *testing.T) {
	r := newTestRelay(t, server.Options{})
	dupKey := key.NewNode()
	a := r.connect(client.Options{}, dupKey)
	b := r.connect(client.Options{}, dupKey)
	r.connect(client.Options{}, dupKey)
	r.waitFor("3 connections", func() bool { return r.srv.ConnCount() == 3 })
	for i := range 100 {
		pingOK(t, a, byte(2*i))
		pingOK(t, b, byte(2*i+1))
	}
	if n := r.srv.SendHistoryLen(dupKey.Public()); n > 3 {
		t.Fatalf("send history holds %d entries for 3 connections", n)
	}
}

// TestDuplicateKeyClosedNeverActive: connections A, B, C of one key; A,
// B, A send in turn; A closes. The key's packets must reach a live
// connection (B, the last other sender), not the closed A.
func TestDuplicateKeyClosedNeverActive(t *testing.T) {
	r := newTestRelay(t, server.Options{})
	sender := r.connect(client.Options{})
	dupKey := key.NewNode()
	a := r.connect(client.Options{}, dupKey)
	b := r.connect(client.Options{RecvTimeout: 5 * time.Second}, dupKey)
	r.connect(client.Options{}, dupKey)
	r.waitFor("4 connections", func() bool { return r.srv.ConnCount() == 4 })
	pingOK(t, a, 1)
	pingOK(t, b, 2)
	pingOK(t, a, 3)
	a.Close()
	r.waitFor("A unregistered", func() bool { return r.srv.ConnCount() == 3 })
	for i := range 3 {
		msg := []byte{'p', byte('0' + i)}
		if err := sender.Send(dupKey.Public(), msg); err != nil {
			t.Fatal(err)
		}
		if _, got := recvPacket(t, b); string(got) != string(msg) {
			t.Fatalf("B got %q, want %q", got, msg)
		}
	}
}
