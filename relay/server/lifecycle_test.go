package server_test

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/relayctl/relayctl/relay/client"
	"github.com/relayctl/relayctl/relay/server"
)

func TestShutdownSendsRestarting(t *testing.T) {
	r := newTestRelay(t, server.Options{})
	a := r.connect(client.Options{})
	b := r.connect(client.Options{})
	if err := a.Send(b.PublicKey(), []byte("before")); err != nil {
		t.Fatal(err)
	}
	recvPacket(t, b)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.srv.Shutdown(ctx, 2*time.Second, 30*time.Second)
	}()
	for _, c := range []*client.Client{a, b} {
		m := recvMessage(t, c)
		rs, ok := m.(client.Restarting)
		if !ok || rs.ReconnectInMillis != 2000 || rs.TryForMillis != 30000 {
			t.Fatalf("got %T %+v, want Restarting{2000, 30000}", m, m)
		}
		expectClosed(t, c)
	}
	<-done
	if n := r.srv.ConnCount(); n != 0 {
		t.Fatalf("%d connections left after Shutdown", n)
	}
}

func TestHealthFrame(t *testing.T) {
	r := newTestRelay(t, server.Options{})
	a := r.connect(client.Options{})
	r.srv.SetHealth("overloaded")
	if m := recvMessage(t, a); m != (client.Health{Problem: "overloaded"}) {
		t.Fatalf("got %T %+v", m, m)
	}
	// A client that connects while the problem is in force hears it too.
	late := r.connect(client.Options{RecvTimeout: 5 * time.Second})
	if m := recvMessage(t, late); m != (client.Health{Problem: "overloaded"}) {
		t.Fatalf("late client got %T %+v, want the Health problem in force", m, m)
	}
	r.srv.SetHealth("")
	if m := recvMessage(t, a); m != (client.Health{}) {
		t.Fatalf("got %T %+v", m, m)
	}
}

// TestSlowReaderDoesNotStallOthers: a receiver that never reads fills its
// socket, its queue drops oldest, its writer hits the write deadline and
// the relay closes it; meanwhile another pair keeps delivering.
func TestSlowReaderDoesNotStallOthers(t *testing.T) {
	r := newTestRelay(t, server.Options{WriteTimeout: 200 * time.Millisecond})
	sender := r.connect(client.Options{})
	stuck := r.connect(client.Options{}) // never reads
	a := r.connect(client.Options{})
	b := r.connect(client.Options{})
	big := make([]byte, 60<<10)
	deadline := time.Now().Add(10 * time.Second)
	for r.metric("derp_sclient_write_timeouts") != "1" {
		if time.Now().After(deadline) {
			t.Fatalf("stuck reader never timed out; drops: %s", r.metric(`derp_packets_dropped{reason="queue_head",kind="other"}`))
		}
		// A burst larger than the queue, so that the queue overflows
		// while the writer is blocked, however slowly this loop runs on
		// a loaded machine (one packet per round trip did not, within
		// the 200 ms write timeout).
		for range server.DefaultQueueDepth + 8 {
			if err := sender.Send(stuck.PublicKey(), big); err != nil {
				t.Fatal(err)
			}
		}
		if err := a.Send(b.PublicKey(), []byte("ping")); err != nil {
			t.Fatal(err)
		}
		if _, got := recvPacket(t, b); string(got) != "ping" {
			t.Fatalf("b got %q", got)
		}
	}
	if r.metric(`derp_packets_dropped{reason="queue_head",kind="other"}`) == "0" {
		t.Error("no queue_head drops counted")
	}
	// The stuck client's connection is gone.
	_, err := stuck.Recv()
	for err == nil {
		_, err = stuck.Recv()
	}
	if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Logf("stuck client ended with %v", err)
	}
}

// TestKeepAliveWhileIdle: an idle client has no writer goroutine, yet
// keepalives keep coming (the timer starts one each time), and packets
// after a quiet spell still arrive.
func TestKeepAliveWhileIdle(t *testing.T) {
	r := newTestRelay(t, server.Options{KeepAlive: 150 * time.Millisecond})
	a := r.connect(client.Options{})
	b := r.connect(client.Options{})
	keepAlives := 0
	for keepAlives < 3 {
		m, err := a.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := m.(client.KeepAlive); !ok {
			t.Fatalf("got %T, want KeepAlive", m)
		}
		keepAlives++
	}
	if err := b.Send(a.PublicKey(), []byte("after a quiet spell")); err != nil {
		t.Fatal(err)
	}
	if _, got := recvPacket(t, a); string(got) != "after a quiet spell" {
		t.Fatalf("got %q", got)
	}
}
