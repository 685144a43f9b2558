package server_test

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/relayctl/relayctl/relay/client"
	"github.com/relayctl/relayctl/relay/key"
	"github.com/relayctl/relayctl/relay/server"
)

// lockedBuffer is a log destination safe to read while the relay writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestAccessRejectionLogsTheFullKey: the log line for a client the access
// policy turns away carries its whole nodekey:, the form the policy file
// lists, so the operator can grep the policy for it.
func TestAccessRejectionLogsTheFullKey(t *testing.T) {
	var log lockedBuffer
	r := newTestRelay(t, server.Options{Logger: slog.New(slog.NewTextHandler(&log, nil))})
	if _, err := r.srv.SetAccessPolicy(&server.AccessPolicy{
		Tags: map[string][]key.NodePublic{"tag:ops": {key.NewNode().Public()}},
	}); err != nil {
		t.Fatal(err)
	}
	stranger := key.NewNode()
	if _, err := client.NewClient(t.Context(), r.dialRaw(), nil, stranger, client.Options{}); err == nil {
		t.Fatal("an untagged key completed the handshake")
	}
	full := stranger.Public().String()
	r.waitFor("the rejection to be logged", func() bool { return strings.Contains(log.String(), "rejected") })
	if !strings.Contains(log.String(), "client "+full+" rejected") {
		t.Errorf("rejection log lacks the full key %s:\n%s", full, log.String())
	}
}
