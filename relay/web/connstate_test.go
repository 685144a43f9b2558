package web

import (
	"bytes"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/relayctl/relayctl/internal/metrics"
)

// TestEmptyConnectionsCountedNotLogged: a TCP connect that sends no
// request (a load balancer's check) is counted, and logged at debug only.
func TestEmptyConnectionsCountedNotLogged(t *testing.T) {
	var logs bytes.Buffer
	reg := metrics.NewRegistry()
	srv := NewServer(http.HandlerFunc(ServeNoContent), ServerOptions{})
	srv.ConnState = ConnStateLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo})), reg)
	closed := make(chan struct{}, 10)
	hook := srv.ConnState
	srv.ConnState = func(c net.Conn, s http.ConnState) {
		hook(c, s)
		if s == http.StateClosed {
			closed <- struct{}{}
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	for range 3 {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
		<-closed
	}
	if got := reg.Counter("relayctl_empty_connections", "").Value(); got != 3 {
		t.Errorf("relayctl_empty_connections = %d, want 3", got)
	}
	if strings.Contains(logs.String(), "closed before sending a request") {
		t.Errorf("empty connections logged at info:\n%s", logs.String())
	}
}
