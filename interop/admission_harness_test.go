package interop

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"tailscale.com/types/key"
)

// expectRejected connects priv with Tailscale's client and requires the
// server to end the connection after ServerKey, before any ServerInfo.
func expectRejected(t *testing.T, s *server, priv key.NodePrivate) {
	t.Helper()
	// Connect returns once ServerKey is read and ClientInfo sent; ServerInfo
	// (which means "admitted") would be the first frame Recv sees.
	c, err := connectDERP(t.Context(), priv, s.url("/derp"), msgTimeout)
	if err != nil {
		t.Fatalf("%s: connect %s: %v (want the handshake to reach ClientInfo)", s.kind, priv.Public().ShortString(), err)
	}
	defer c.Close()
	if got := c.ServerPublicKey(); got.IsZero() {
		t.Fatalf("%s: no ServerKey before the rejection", s.kind)
	}
	in := startInbox(c)
	m, err := in.next(msgTimeout)
	if err == nil {
		t.Fatalf("%s: rejected key %s got %T, want the connection closed", s.kind, priv.Public().ShortString(), m)
	}
	if !errors.Is(in.err, io.EOF) && !isClosedErr(in.err) {
		t.Fatalf("%s: rejected key %s: %v, want EOF", s.kind, priv.Public().ShortString(), in.err)
	}
}

// fetchMetrics reads relayctl's Prometheus text from /debug/metrics.
func fetchMetrics(t *testing.T, s *server) string {
	t.Helper()
	hc := &http.Client{Timeout: 2 * time.Second}
	defer hc.CloseIdleConnections()
	resp, err := hc.Get(s.url("/debug/metrics"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /debug/metrics: %s %v", resp.Status, err)
	}
	return string(b)
}

// waitForMetric polls relayctl's metrics until line appears.
func waitForMetric(t *testing.T, s *server, line string) {
	t.Helper()
	deadline := time.Now().Add(msgTimeout)
	for {
		got := fetchMetrics(t, s)
		if strings.Contains(got, line) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("metric %q not seen within %v:\n%s", line, msgTimeout, got)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
