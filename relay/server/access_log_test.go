package server_test

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/relayctl/relayctl/relay/client"
	"github.com/relayctl/relayctl/relay/key"
	"github.com/relayctl/relayctl/relay/server"
)

// TestAccessRejectionLogsTheFullKey: the log line for a client the access
// policy turns away carries its whole nodekey:, the form the policy file
// lists, so the operator can grep the policy for it.
func TestAccessRejectionLogsTheFullKey(t *testing.T) {
	var log syncBuffer
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
