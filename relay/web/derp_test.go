package web

import (
	"bytes"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/relayctl/relayctl/internal/metrics"
	"github.com/relayctl/relayctl/relay/key"
	"github.com/relayctl/relayctl/relay/server"
)

// TestWeirdUpgradeLoggedShort: a client-chosen Upgrade header is quoted
// only in part, and counted, so a client cannot fill the log with it (20
// requests with a 1 MB header once wrote 20 MB of log).
func TestWeirdUpgradeLoggedShort(t *testing.T) {
	var logs bytes.Buffer
	reg := metrics.NewRegistry()
	s, err := server.New(server.Options{PrivateKey: key.NewNode(), Metrics: reg})
	if err != nil {
		t.Fatal(err)
	}
	h := NewDERPHandler(t.Context(), s, DERPOptions{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	huge := strings.Repeat("x", 100<<10)
	for range 20 {
		w := serve(h, "GET", "/derp", remoteRemote, http.Header{"Upgrade": {huge}})
		if w.Code != http.StatusUpgradeRequired {
			t.Fatalf("status %d, want 426", w.Code)
		}
	}
	if n := logs.Len(); n > 20*400 {
		t.Fatalf("%d bytes of log for 20 requests; the header was copied", n)
	}
	if !strings.Contains(logs.String(), "(102400 bytes)") {
		t.Fatalf("log does not say how long the header was:\n%.500s", logs.String())
	}
	if got := reg.Counter("relayctl_bad_upgrade_requests", "").Value(); got != 20 {
		t.Fatalf("relayctl_bad_upgrade_requests = %d, want 20", got)
	}
}
