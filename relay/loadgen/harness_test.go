package loadgen

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/relayctl/relayctl/relay/relaytest"
	"github.com/relayctl/relayctl/relay/server"
)

// testRelay is an in-process relay on loopback. Its process is the test's,
// so Target.ServerPID is this process: figures read from /proc then cover
// relay and generator together, which is fine for checking the plumbing.
type testRelay struct {
	srv    *server.Server
	target Target
}

func startRelay(t *testing.T) testRelay {
	t.Helper()
	r := relaytest.Start(t, relaytest.Options{})
	return testRelay{srv: r.Server, target: Target{URL: r.URL, ServerPID: os.Getpid()}}
}

// startNotARelay is an HTTP server that answers every upgrade with 404.
func startNotARelay(t *testing.T) string {
	hs := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(hs.Close)
	return hs.URL
}

// jsonFields is v as JSON, and read back as an object: what a reader of
// relayctl bench --json sees.
func jsonFields(t *testing.T, v any) (map[string]any, []byte) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	if err := json.Unmarshal(b, &fields); err != nil {
		t.Fatal(err)
	}
	return fields, b
}
