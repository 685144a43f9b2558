package admin

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/relayctl/relayctl/relay/client"
	"github.com/relayctl/relayctl/relay/key"
	"github.com/relayctl/relayctl/relay/relaytest"
	"github.com/relayctl/relayctl/relay/server"
	"github.com/relayctl/relayctl/relay/web"
	"github.com/relayctl/relayctl/relay/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const waitTimeout = 5 * time.Second

// startRelay serves an in-process relay with meshKey (zero: none) over
// plain HTTP on loopback and returns its /derp URL.
func startRelay(t *testing.T, meshKey key.MeshKey) string {
	t.Helper()
	srv, err := server.New(server.Options{PrivateKey: key.NewNode(), MeshKey: meshKey})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	mux := http.NewServeMux()
	mux.Handle("/derp", web.DERPHandler(ctx, srv, nil))
	hs := httptest.NewServer(mux)
	t.Cleanup(func() {
		hs.CloseClientConnections()
		hs.Close()
		cancel()
		srv.Close()
	})
	return hs.URL + "/derp"
}

// watch opens an admin session with meshKey.
func watch(t *testing.T, url string, meshKey key.MeshKey) *Session {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	c, err := client.Dial(ctx, url, key.NewNode(), client.Options{MeshKey: meshKey})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	s, err := Watch(c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func list(t *testing.T, s *Session) map[key.NodePublic]Peer {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	peers, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.IsSortedFunc(peers, func(a, b Peer) int { return strings.Compare(a.Key.String(), b.Key.String()) }) {
		t.Errorf("List is not sorted by key")
	}
	m := map[key.NodePublic]Peer{}
	for _, p := range peers {
		m[p.Key] = p
	}
	return m
}

func TestListShowsEveryKindOfPeer(t *testing.T) {
	t.Parallel()
	mk := key.NewMesh()
	url := startRelay(t, mk)
	regular := relaytest.Dial(t, url, client.Options{})
	notIdeal := relaytest.Dial(t, url, client.Options{Header: http.Header{"Ideal-Node": {"900a"}}})
	prober := relaytest.Dial(t, url, client.Options{IsProber: true})
	meshPeer := relaytest.Dial(t, url, client.Options{MeshKey: mk})

	s := watch(t, url, mk)
	got := list(t, s)
	want := map[key.NodePublic][]string{
		regular.PublicKey():  {"regular"},
		notIdeal.PublicKey(): {"not-ideal"},
		prober.PublicKey():   {"prober"},
		meshPeer.PublicKey(): {"mesh"},
	}
	for k, names := range want {
		p, ok := got[k]
		if !ok {
			t.Errorf("List lacks %s", k.ShortString())
			continue
		}
		if !slices.Equal(p.FlagNames(), names) {
			t.Errorf("%s: flags %v, want %v", k.ShortString(), p.FlagNames(), names)
		}
		if !p.Addr.IsValid() || !p.Addr.Addr().IsLoopback() {
			t.Errorf("%s: address %v, want a loopback address", k.ShortString(), p.Addr)
		}
	}
	if len(got) != len(want) {
		t.Errorf("List has %d peers, want %d (the session's own connection must not be listed): %v", len(got), len(want), got)
	}
}

func TestCloseDisconnectsOnlyTheChosenPeer(t *testing.T) {
	t.Parallel()
	mk := key.NewMesh()
	url := startRelay(t, mk)
	target := relaytest.Dial(t, url, client.Options{})
	bystander := relaytest.Dial(t, url, client.Options{})
	s := watch(t, url, mk)
	list(t, s)

	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	closed, err := s.Close(ctx, []key.NodePublic{target.PublicKey()})
	if err != nil {
		t.Fatal(err)
	}
	if !closed[target.PublicKey()] || len(closed) != 1 {
		t.Fatalf("Close confirmed %v, want only the target", closed)
	}
	target.WaitClosed(t)
	if !bystander.Connected() {
		t.Fatal("the bystander lost its connection")
	}
	after := list(t, s)
	if _, ok := after[target.PublicKey()]; ok {
		t.Error("a second List still shows the closed peer")
	}
	if _, ok := after[bystander.PublicKey()]; !ok {
		t.Error("a second List lost the bystander")
	}
}

// An unknown key gets no reply from the relay: Close waits for ctx and
// reports nothing confirmed, without an error.
func TestCloseUnknownPeerIsNotConfirmed(t *testing.T) {
	t.Parallel()
	mk := key.NewMesh()
	url := startRelay(t, mk)
	s := watch(t, url, mk)
	list(t, s)
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	closed, err := s.Close(ctx, []key.NodePublic{key.NewNode().Public()})
	if err != nil || len(closed) != 0 {
		t.Fatalf("Close of an unknown key: %v, %v; want nothing confirmed and no error", closed, err)
	}
}

func TestRefusedWithoutTheMeshKey(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name         string
		relay, admin key.MeshKey
	}{
		{"wrong_key", key.NewMesh(), key.NewMesh()},
		{"no_key", key.NewMesh(), key.MeshKey{}},
		{"relay_without_key", key.MeshKey{}, key.NewMesh()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := startRelay(t, tc.relay)
			s := watch(t, url, tc.admin)
			ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
			defer cancel()
			_, err := s.List(ctx)
			if !errors.Is(err, ErrRefused) {
				t.Fatalf("List: %v, want ErrRefused", err)
			}
			if !strings.Contains(err.Error(), "mesh key") {
				t.Errorf("error %q does not mention the mesh key", err)
			}
		})
	}
}

func TestListStopsAtContextEnd(t *testing.T) {
	t.Parallel()
	mk := key.NewMesh()
	url := startRelay(t, mk)
	s := watch(t, url, mk)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.List(ctx); !errors.Is(err, context.Canceled) || errors.Is(err, ErrRefused) {
		t.Fatalf("List with a cancelled context: %v", err)
	}
}

func TestFlagNames(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		flags wire.PeerPresentFlags
		want  string
	}{
		{0, "regular"},
		{wire.PeerPresentIsRegular, "regular"},
		{wire.PeerPresentIsMeshPeer, "mesh"},
		{wire.PeerPresentIsProber, "prober"},
		{wire.PeerPresentNotIdeal, "not-ideal"},
		{wire.PeerPresentIsProber | wire.PeerPresentNotIdeal, "prober,not-ideal"},
	} {
		if got := strings.Join(Peer{Flags: tc.flags}.FlagNames(), ","); got != tc.want {
			t.Errorf("flags %#x: %q, want %q", tc.flags, got, tc.want)
		}
	}
}
