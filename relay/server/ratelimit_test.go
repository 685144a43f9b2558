package server_test

import (
	"testing"
	"time"

	"github.com/relayctl/relayctl/relay/client"
	"github.com/relayctl/relayctl/relay/key"
	"github.com/relayctl/relayctl/relay/server"
)

// TestPerClientRateLimit: a limited sender is slowed, not dropped; the
// limit changes live; mesh peers are exempt.
func TestPerClientRateLimit(t *testing.T) {
	mesh := key.NewMesh()
	r := newTestRelay(t, server.Options{MeshKey: mesh, PerClientRateLimit: 200_000, PerClientRateBurst: 1})
	sender := r.connect(client.Options{})
	rx := r.connect(client.Options{})
	pkt := make([]byte, 60_000)

	start := time.Now()
	for range 5 {
		if err := sender.Send(rx.PublicKey(), pkt); err != nil {
			t.Fatal(err)
		}
	}
	for range 5 {
		recvPacket(t, rx)
	}
	// 300 kB at 200 kB/s after a one-frame burst cannot take less than
	// (300000-65568)/200000 s. Only this lower bound is asserted.
	if elapsed := time.Since(start); elapsed < 1100*time.Millisecond {
		t.Errorf("5×60 kB at 200 kB/s took only %v", elapsed)
	}
	if r.metric("derp_rate_limit_per_client_waited") == "0" {
		t.Error("no waits counted")
	}
	if got := r.metric("derp_rate_limit_per_client_burst_bytes"); got != "65568" {
		t.Errorf("burst %s, want raised to one largest frame (65568)", got)
	}

	// Lifted live: the same connection is no longer held back.
	r.srv.SetPerClientRateLimit(0, 0)
	waited := r.metric("derp_rate_limit_per_client_waited")
	for range 20 {
		if err := sender.Send(rx.PublicKey(), pkt[:20_000]); err != nil {
			t.Fatal(err)
		}
		recvPacket(t, rx)
	}
	if got := r.metric("derp_rate_limit_per_client_waited"); got != waited {
		t.Errorf("waits went from %s to %s after the limit was lifted", waited, got)
	}

	// Mesh peers are exempt even under a tight limit.
	r.srv.SetPerClientRateLimit(1000, 0)
	meshPeer := r.connect(client.Options{MeshKey: mesh})
	waited = r.metric("derp_rate_limit_per_client_waited")
	for range 5 {
		if err := meshPeer.ForwardPacket(sender.PublicKey(), rx.PublicKey(), pkt); err != nil {
			t.Fatal(err)
		}
		recvPacket(t, rx)
	}
	if got := r.metric("derp_rate_limit_per_client_waited"); got != waited {
		t.Errorf("mesh peer was rate limited: waits %s → %s", waited, got)
	}
}
