package netcheck

import (
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/relayctl/relayctl/probe/internal/probetest"
	"github.com/relayctl/relayctl/relay/web"
)

// TestNetcheckCaptivePortal asks a node's /generate_204 through what a
// client might meet on the way: the relay itself, or a portal answering in
// its place.
func TestNetcheckCaptivePortal(t *testing.T) {
	t.Parallel()
	stunPort := slowSTUN(t, 0)
	tests := []struct {
		name      string
		handler   http.HandlerFunc // nil: nothing listens
		canPort80 bool
		want      *bool
	}{
		{"relay_echoes_challenge", web.ServeNoContent, true, new(false)},
		{"portal_bare_204", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }, true, new(true)},
		{"portal_wrong_echo", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Tailscale-Response", "response ts_elsewhere")
			w.WriteHeader(http.StatusNoContent)
		}, true, new(true)},
		{"portal_login_page", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("<html>log in</html>")) }, true, new(true)},
		{"portal_redirect", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://portal.example/login", http.StatusFound)
		}, true, new(true)},
		{"nothing_listens", nil, true, nil},
		{"no_node_on_port_80", web.ServeNoContent, false, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var port int
			if tc.handler != nil {
				srv := httptest.NewServer(tc.handler)
				t.Cleanup(srv.Close)
				port = srv.Listener.Addr().(*net.TCPAddr).Port
			} else {
				port = probetest.DeadTCPPort(t)
			}
			n := stunOnlyNode("900a", 900, stunPort)
			n.CanPort80 = tc.canPort80
			m := probetest.OneRegionMap(900, "home", n)
			var events []Event
			rep, err := Run(t.Context(), m, Options{
				BindV4: "127.0.0.1:0", STUNTimeout: time.Second, captivePort: uint16(port), DefaultGateway: noGateway,
				OnEvent: func(ev Event) { events = append(events, ev) },
			})
			if err != nil {
				t.Fatal(err)
			}
			if got := rep.CaptivePortal; (got == nil) != (tc.want == nil) || got != nil && *got != *tc.want {
				t.Errorf("CaptivePortal = %s, want %s", fmtOptBool(got), fmtOptBool(tc.want))
			}
			var seen bool
			for _, ev := range events {
				seen = seen || ev.Method == MethodCaptive
			}
			if !seen {
				t.Errorf("no %s event among %+v", MethodCaptive, events)
			}
		})
	}
}

func TestCaptiveResult(t *testing.T) {
	tests := []struct {
		name     string
		verdicts []captiveVerdict
		want     *bool
	}{
		{"none", nil, nil},
		{"all_unknown", []captiveVerdict{captiveUnknown, captiveUnknown}, nil},
		{"one_clean", []captiveVerdict{captiveUnknown, captiveClean}, new(false)},
		{"one_found_wins", []captiveVerdict{captiveClean, captiveFound, captiveClean}, new(true)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := captiveResult(tc.verdicts); fmtOptBool(got) != fmtOptBool(tc.want) {
				t.Errorf("captiveResult(%v) = %s, want %s", tc.verdicts, fmtOptBool(got), fmtOptBool(tc.want))
			}
		})
	}
}

func fmtOptBool(b *bool) string {
	if b == nil {
		return "null"
	}
	if *b {
		return "true"
	}
	return "false"
}
