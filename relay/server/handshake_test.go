package server_test

import (
	"bufio"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/relayctl/relayctl/relay/key"
	"github.com/relayctl/relayctl/relay/server"
	"github.com/relayctl/relayctl/relay/wire"
)

// TestClientInfoHeaderBuysNoMemory: before a client has authenticated, a
// ClientInfo header claiming the largest size must not make the server
// allocate that size; memory follows the bytes that actually arrive.
func TestClientInfoHeaderBuysNoMemory(t *testing.T) {
	srv, err := server.New(server.Options{PrivateKey: key.NewNode()})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	const conns = 100
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	before := ms.HeapAlloc

	var wg sync.WaitGroup
	clients := make([]net.Conn, 0, conns)
	defer func() {
		for _, c := range clients {
			c.Close()
		}
		wg.Wait()
	}()
	for range conns {
		cli, srvSide := net.Pipe()
		clients = append(clients, cli)
		wg.Go(func() { srv.Accept(t.Context(), srvSide, nil, server.ConnInfo{}) })
		cli.SetDeadline(time.Now().Add(5 * time.Second))
		br := bufio.NewReader(cli)
		if typ, _, err := wire.ReadFrame(br, 1024, nil); err != nil || typ != wire.FrameServerKey {
			t.Fatalf("ServerKey: %v %v", typ, err)
		}
		if _, err := cli.Write(append(wire.AppendFrameHeader(nil, wire.FrameClientInfo, wire.MaxClientInfoLen), 0)); err != nil {
			t.Fatal(err)
		}
		// A pipe write returns once the server has read it: after this
		// one, the server is reading the body.
		if _, err := cli.Write([]byte{0}); err != nil {
			t.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&ms)
	grown := int64(ms.HeapAlloc) - int64(before)
	t.Logf("%d half-sent ClientInfo frames hold %d KiB", conns, grown>>10)
	if limit := int64(conns * 32 << 10); grown > limit {
		t.Fatalf("%d half-sent ClientInfo frames hold %d KiB, want under %d KiB", conns, grown>>10, limit>>10)
	}
}

// TestHealthQueuedAtRegistration: a client that registers while a Health
// problem is in force has it queued from that moment, under the lock
// SetHealth takes. (Reading the problem later, when the connection
// starts, lost a SetHealth that ran between the read and the queueing.)
func TestHealthQueuedAtRegistration(t *testing.T) {
	srv, err := server.New(server.Options{PrivateKey: key.NewNode()})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	srv.SetHealth("overloaded")
	cli, srvSide := net.Pipe()
	var wg sync.WaitGroup
	defer func() {
		cli.Close()
		wg.Wait()
	}()
	wg.Go(func() { srv.Accept(t.Context(), srvSide, nil, server.ConnInfo{}) })
	cli.SetDeadline(time.Now().Add(5 * time.Second))
	priv := key.NewNode()
	rawClientInfo(t, bufio.NewReader(cli), cli, priv)
	// The server registers the client, then blocks writing ServerInfo
	// into the pipe, which nobody reads yet.
	waitFor(t, "client registered", func() bool { return srv.ConnCount() == 1 })
	if got, ok := srv.PendingHealth(priv.Public()); !ok || got != "overloaded" {
		t.Fatalf("queued Health at registration = %q, %v; want \"overloaded\"", got, ok)
	}
}
