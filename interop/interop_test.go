package interop

import "testing"

// interopCase is one behaviour checked against every server implementation.
// run starts its own server(s) with startServer, so cases run in parallel
// and one case's damage cannot leak into another.
type interopCase struct {
	name string
	run  func(t *testing.T, k serverKind)
}

// interopCases is the single table both servers must pass. Where relayctl
// deliberately behaves better than derper, the case itself carries the
// per-server expectation and says why.
var interopCases = []interopCase{
	{"handshake", testHandshake},
	{"delivery", testDelivery},
	{"peer_gone_disconnected", testPeerGoneDisconnected},
	{"peer_gone_not_here", testPeerGoneNotHere},
	{"ping_client_library", testPingClientLibrary},
	{"ping_raw", testPingRaw},
	{"websocket", testWebSocket},
	{"stun_tailscale_request", testSTUNTailscale},
	{"stun_plain_rfc5389_request", testSTUNPlainRFC5389},
	{"http_endpoints", testHTTPEndpoints},
	{"watch_conns_without_mesh_key", testWatchConnsWithoutMeshKey},
	{"note_preferred_wrong_length", testNotePreferredWrongLength},
	{"duplicate_key", testDuplicateKey},
	{"duplicate_key_closed_not_active", testDuplicateKeyClosedNotActive},
	{"bad_input", testBadInput},
}

func TestInterop(t *testing.T) {
	for _, k := range selectedKinds() {
		t.Run(string(k), func(t *testing.T) {
			t.Parallel()
			for _, tc := range interopCases {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					tc.run(t, k)
				})
			}
		})
	}
}
