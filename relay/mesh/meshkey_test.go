package mesh

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/relayctl/relayctl/internal/syncbuf"
	"github.com/relayctl/relayctl/relay/key"
)

// logBuffer collects a node's log lines.
type logBuffer struct{ syncbuf.Buffer }

func (l *logBuffer) count(substr string) int { return strings.Count(l.String(), substr) }

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// TestWrongMeshKeyBacksOffAndSaysSo: a node whose mesh key is not its
// peer's backs off as for any failure (not reconnecting at full speed as
// if each attempt had worked), and each side says once what is wrong.
func TestWrongMeshKeyBacksOffAndSaysSo(t *testing.T) {
	var goodLog, badLog logBuffer
	good := &node{t: t, addr: "127.0.0.1:0", priv: key.NewNode(), mesh: key.NewMesh(), logger: goodLog.logger()}
	good.start()
	t.Cleanup(good.stop)
	peer := "http://" + good.addr
	bad := &node{t: t, addr: "127.0.0.1:0", priv: key.NewNode(), mesh: key.NewMesh(), peers: []string{peer}, logger: badLog.logger()}
	start := time.Now()
	bad.start()
	t.Cleanup(bad.stop)

	// Six refused attempts: with the backoff growing from 100 ms (each
	// wait at least half the backoff), they take at least
	// 50+100+200+400+800 ms.
	waitMetricWithin(t, bad, `relayctl_mesh_reconnects{peer="`+peer+`"} 6`, 15*time.Second)
	if d := time.Since(start); d < 1550*time.Millisecond {
		t.Errorf("6 refused attempts in %v: the backoff is not growing", d)
	}
	if n := badLog.count("mesh peer rejected our mesh key: check --mesh-psk-file on both nodes"); n != 1 {
		t.Errorf("the mis-keyed node said %d times that its key was rejected, want once; log:\n%s", n, badLog.String())
	}
	if n := badLog.count("mesh peer connected"); n != 0 {
		t.Errorf("the mis-keyed node logged %d connections that never worked", n)
	}
	if n := goodLog.count("check --mesh-psk-file on both nodes"); n != 1 {
		t.Errorf("the peer named the mesh key in %d log lines, want 1 (rate-limited); log:\n%s", n, goodLog.String())
	}
	if n := goodLog.count("protocol violation"); n != 0 {
		t.Errorf("the peer logged %d generic protocol violations", n)
	}
}
