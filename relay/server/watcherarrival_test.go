package server_test

import (
	"testing"
	"time"

	"github.com/relayctl/relayctl/relay/client"
	"github.com/relayctl/relayctl/relay/key"
	"github.com/relayctl/relayctl/relay/server"
)

// TestWatcherArrived: the channel closes when another node's mesh client
// subscribes, not for a plain client or for our own mesh client looped
// back (the mesh lists every node, itself included), and a fresh one is
// handed out for the next arrival.
func TestWatcherArrived(t *testing.T) {
	mesh := key.NewMesh()
	self := key.NewNode()
	r := newTestRelay(t, server.Options{MeshKey: mesh, PrivateKey: self})
	arrived := r.srv.WatcherArrived()
	notYet := func(what string) {
		t.Helper()
		select {
		case <-arrived:
			t.Fatalf("WatcherArrived closed by %s", what)
		case <-time.After(50 * time.Millisecond):
		}
	}

	r.connect(client.Options{})
	notYet("a plain client")
	own := r.connect(client.Options{MeshKey: mesh}, self)
	if err := own.WatchConns(); err != nil {
		t.Fatal(err)
	}
	notYet("our own mesh client")

	peer := r.connect(client.Options{MeshKey: mesh})
	if err := peer.WatchConns(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-arrived:
	case <-time.After(5 * time.Second):
		t.Fatal("WatcherArrived not closed by another node's watcher")
	}
	if next := r.srv.WatcherArrived(); next == arrived {
		t.Fatal("WatcherArrived hands out the closed channel again")
	}
}
