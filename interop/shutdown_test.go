package interop

import (
	"syscall"
	"testing"
	"time"

	"tailscale.com/derp"
)

// TestGracefulShutdown (relayctl only: derper never sends Restarting)
// sends SIGTERM to a relay with two of Tailscale's clients connected. Each
// client must receive the Restarting frame, parsed by Tailscale's library,
// and the process must exit cleanly within the drain bound.
func TestGracefulShutdown(t *testing.T) {
	if !serverSelected(relayctlServer) {
		t.Skip("relayctl not selected")
	}
	s := startServer(t, relayctlServer)
	a, b := connectPeer(t, s), connectPeer(t, s)
	exchange(t, a, b)

	s.stopping = true
	start := time.Now()
	if err := s.proc.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for _, p := range []*peer{a, b} {
		m, err := p.in.waitFor(msgTimeout, func(m derp.ReceivedMessage) bool {
			_, ok := m.(derp.ServerRestartingMessage)
			return ok
		})
		if err != nil {
			t.Fatalf("peer %s: no Restarting frame: %v", p.pub.ShortString(), err)
		}
		rs := m.(derp.ServerRestartingMessage)
		if rs.ReconnectIn != time.Second || rs.TryFor != 30*time.Second {
			t.Errorf("Restarting %+v, want reconnect in 1s, try for 30s", rs)
		}
	}
	// The default drain is 5 s; clients that got the notice are closed at
	// once, so exit comes well before that.
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("relayctl still running 10 s after SIGTERM")
	}
	if err := s.exitStatus(); err != nil {
		t.Fatalf("exit status %v, want 0", err)
	}
	t.Logf("exited %v after SIGTERM", time.Since(start).Round(time.Millisecond))
	if _, err := s.logs.waitForJSONLine(t.Context(), time.Second, `"relay stopped"`); err != nil {
		t.Error(err)
	}
}
