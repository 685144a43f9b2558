package interop

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"tailscale.com/types/key"
)

// admissionController is a --verify-client-url webhook on loopback that
// allows a fixed set of keys and records what it was sent.
type admissionController struct {
	*httptest.Server
	allowed map[string]bool
	status  int // reply status; 200 unless set

	mu   sync.Mutex
	seen []admissionCall
}

type admissionCall struct {
	body        string
	contentType []string
}

func newAdmissionController(t *testing.T, status int, allowed ...key.NodePublic) *admissionController {
	ac := &admissionController{allowed: map[string]bool{}, status: status}
	for _, k := range allowed {
		ac.allowed[k.String()] = true
	}
	ac.Server = httptest.NewServer(http.HandlerFunc(ac.serve))
	t.Cleanup(ac.Close)
	return ac
}

func (ac *admissionController) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	ac.mu.Lock()
	ac.seen = append(ac.seen, admissionCall{string(body), r.Header.Values("Content-Type")})
	ac.mu.Unlock()
	var req struct{ NodePublic string }
	if r.Method != http.MethodPost || json.Unmarshal(body, &req) != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	w.WriteHeader(ac.status)
	json.NewEncoder(w).Encode(map[string]bool{"Allow": ac.allowed[req.NodePublic]})
}

func (ac *admissionController) callFor(k key.NodePublic) (admissionCall, bool) {
	ac.mu.Lock()
	defer ac.mu.Unlock()
	for _, c := range ac.seen {
		if strings.Contains(c.body, k.String()) {
			return c, true
		}
	}
	return admissionCall{}, false
}

// TestAdmissionWebhookInterop runs one table against derper
// --verify-client-url and relayctl serve --verify-client-url with
// Tailscale's derphttp clients: allowed keys connect and deliver, a denied
// key, or any key when the controller answers non-200, sees EOF right
// after ServerKey. Both servers must send the controller the same bytes.
func TestAdmissionWebhookInterop(t *testing.T) {
	flagFor := map[serverKind][]string{
		derperServer:   {"-verify-client-url", "-verify-client-url-fail-open=false"},
		relayctlServer: {"--verify-client-url", "--verify-client-url-fail-open=false"},
	}
	for _, k := range selectedKinds() {
		t.Run(string(k), func(t *testing.T) {
			t.Parallel()
			t.Run("allow_and_deny", func(t *testing.T) {
				t.Parallel()
				alice, bob, mallory := key.NewNode(), key.NewNode(), key.NewNode()
				ac := newAdmissionController(t, http.StatusOK, alice.Public(), bob.Public())
				s := startServer(t, k, flagFor[k][0], ac.URL+"/admit", flagFor[k][1])

				a := connectPeerAs(t, s, alice)
				b := connectPeerAs(t, s, bob)
				exchange(t, a, b)
				expectRejected(t, s, mallory)

				for _, who := range []key.NodePrivate{alice, mallory} {
					call, ok := ac.callFor(who.Public())
					if !ok {
						t.Fatalf("controller never asked about %s", who.Public().ShortString())
					}
					want := `{"NodePublic":"` + who.Public().String() + `","Source":"127.0.0.1"}`
					if call.body != want {
						t.Errorf("request body %s, want %s", call.body, want)
					}
					if len(call.contentType) != 0 {
						t.Errorf("Content-Type %q sent, want none", call.contentType)
					}
				}
				if k == relayctlServer {
					if _, err := s.logs.waitForJSONLine(t.Context(), msgTimeout,
						`"client":"`+mallory.Public().String()+`"`, `"check":"webhook"`, "not allowed"); err != nil {
						t.Fatal(err)
					}
					waitForMetric(t, s, `relayctl_admission_decisions{check="webhook",result="deny"} 1`)
				}
			})
			t.Run("non_200_rejects", func(t *testing.T) {
				t.Parallel()
				alice := key.NewNode()
				ac := newAdmissionController(t, http.StatusServiceUnavailable, alice.Public())
				s := startServer(t, k, flagFor[k][0], ac.URL+"/admit", flagFor[k][1])
				expectRejected(t, s, alice)
			})
			t.Run("unreachable_fail_open_admits", func(t *testing.T) {
				t.Parallel()
				ac := newAdmissionController(t, http.StatusOK)
				url := ac.URL + "/admit"
				ac.Close() // nothing listens there any more
				s := startServer(t, k, flagFor[k][0], url)
				alice, bob := key.NewNode(), key.NewNode()
				exchange(t, connectPeerAs(t, s, alice), connectPeerAs(t, s, bob))
				if !strings.Contains(s.logs.String(), "admission controller unreachable; allowing client") {
					t.Fatalf("%s did not log the fail-open admission:\n%s", k, s.logs)
				}
			})
			t.Run("unreachable_fail_closed_rejects", func(t *testing.T) {
				t.Parallel()
				ac := newAdmissionController(t, http.StatusOK)
				url := ac.URL + "/admit"
				ac.Close()
				s := startServer(t, k, flagFor[k][0], url, flagFor[k][1])
				expectRejected(t, s, key.NewNode())
			})
		})
	}
}
