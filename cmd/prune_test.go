package cmd

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/relayctl/relayctl/relay/client"
	"github.com/relayctl/relayctl/relay/key"
	"github.com/relayctl/relayctl/relay/relaytest"
	"github.com/relayctl/relayctl/relay/server"
)

// parsePrune runs `relayctl prune args…` up to option completion.
func parsePrune(t *testing.T, args ...string) (*pruneOptions, error) {
	t.Helper()
	var got *pruneOptions
	streams := IOStreams{In: strings.NewReader(""), Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}}
	c := newPruneCmd(streams, func(o *pruneOptions) error { got = o; return nil })
	err := executeParsed(c, streams, args...)
	return got, err
}

// writePruneKey writes a mesh key file with the given mode.
func writePruneKey(t *testing.T, k key.MeshKey, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "mesh.key")
	if err := os.WriteFile(path, []byte(k.Hex()+"\n"), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // past the umask
		t.Fatal(err)
	}
	return path
}

func TestPruneOptions(t *testing.T) {
	a, b := key.NewNode().Public(), key.NewNode().Public()
	for _, tc := range []struct {
		name  string
		args  []string
		check func(t *testing.T, o *pruneOptions)
	}{
		{"peers_repeated", []string{"--server", "https://derp.example.com", "--mesh-psk-file", "k", "--peer", a.String(), "--peer", b.String()},
			func(t *testing.T, o *pruneOptions) {
				if !slices.Equal(o.peerKeys, []key.NodePublic{a, b}) {
					t.Errorf("peer keys %v", o.peerKeys)
				}
			}},
		{"peers_comma_list", []string{"--server", "https://derp.example.com", "--mesh-psk-file", "k", "--peer", a.String() + "," + b.String()},
			func(t *testing.T, o *pruneOptions) {
				if len(o.peerKeys) != 2 {
					t.Errorf("peer keys %v", o.peerKeys)
				}
			}},
		{"list_only", []string{"--server", "http://10.0.0.2:3340/derp", "--allow-plain-http", "--mesh-psk-file", "k", "--list"},
			func(t *testing.T, o *pruneOptions) {
				if !o.List || o.All || o.NotIdeal || len(o.peerKeys) != 0 {
					t.Errorf("options %+v", o)
				}
			}},
		{"not_ideal_dry_run_json", []string{"--server", "https://derp.example.com:8443", "--mesh-psk-file", "k", "--not-ideal", "--dry-run", "--json", "--timeout", "3s"},
			func(t *testing.T, o *pruneOptions) {
				if !o.NotIdeal || !o.DryRun || !o.JSON || o.Timeout != 3*time.Second {
					t.Errorf("options %+v", o)
				}
			}},
		{"default_timeout", []string{"--server", "https://derp.example.com", "--mesh-psk-file", "k", "--all"},
			func(t *testing.T, o *pruneOptions) {
				if !o.All || o.Timeout != 15*time.Second {
					t.Errorf("options %+v", o)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parsePrune(t, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, o)
		})
	}
}

func TestPruneUsageErrorsExitTwo(t *testing.T) {
	mk := key.NewMesh()
	good := writePruneKey(t, mk, 0o600)
	open := writePruneKey(t, mk, 0o644)
	garbled := filepath.Join(t.TempDir(), "garbled.key")
	os.WriteFile(garbled, []byte("not hex\n"), 0o600)
	srv := []string{"prune", "--server", "https://127.0.0.1:1"}
	for _, tc := range []struct {
		name, wantInErr string
		args            []string
	}{
		{"no_server", "--server is required", []string{"prune", "--mesh-psk-file", good, "--all"}},
		{"server_scheme", "--server", []string{"prune", "--server", "ftp://derp.example.com", "--mesh-psk-file", good, "--all"}},
		{"server_without_host", "--server", []string{"prune", "--server", "https://", "--mesh-psk-file", good, "--all"}},
		{"plain_http_remote", "plain http beyond this host would let a man in the middle read the mesh key", []string{"prune", "--server", "http://10.0.0.2:3340", "--mesh-psk-file", good, "--all"}},
		{"no_mesh_key", "--mesh-psk-file is required", append(srv, "--all")},
		{"nothing_chosen", "choose the peers", append(srv, "--mesh-psk-file", good)},
		{"two_choices", "choose one of", append(srv, "--mesh-psk-file", good, "--all", "--not-ideal")},
		{"bad_peer", "--peer", append(srv, "--mesh-psk-file", good, "--peer", "nodekey:zz")},
		{"positional_argument", "unknown command", append(srv, "--mesh-psk-file", good, "--all", "extra")},
		{"unknown_flag", "unknown flag", append(srv, "--mesh-psk-file", good, "--all", "--force")},
		{"key_file_readable_by_others", "chmod 600", append(srv, "--mesh-psk-file", open, "--all")},
		{"key_file_missing", "--mesh-psk-file", append(srv, "--mesh-psk-file", filepath.Join(t.TempDir(), "absent"), "--all")},
		{"key_file_garbled", "--mesh-psk-file", append(srv, "--mesh-psk-file", garbled, "--all")},
		{"bad_cert_name", "--cert-name", append(srv, "--mesh-psk-file", good, "--all", "--cert-name", "sha256-raw:ABC")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stderr := wantUsageError(t, tc.wantInErr, slices.Clone(tc.args)...)
			if strings.Contains(stderr, mk.Hex()) {
				t.Error("the mesh key appears in the error")
			}
		})
	}
}

// pruneRelay is an in-process relay with a mesh key on loopback.
type pruneRelay struct {
	url     string
	meshKey key.MeshKey
	keyFile string
}

func startPruneRelay(t *testing.T) *pruneRelay {
	t.Helper()
	mk := key.NewMesh()
	r := relaytest.Start(t, relaytest.Options{Server: server.Options{MeshKey: mk}})
	return &pruneRelay{url: r.URL, meshKey: mk, keyFile: writePruneKey(t, mk, 0o600)}
}

// prune runs `relayctl prune --server r --mesh-psk-file … args…`.
func (r *pruneRelay) prune(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return runCLI(t, append([]string{"prune", "--server", r.url, "--mesh-psk-file", r.keyFile, "--timeout", "5s"}, args...)...)
}

// pruneRows maps each peer key in prune's table to its FLAGS and ACTION
// columns.
func pruneRows(t *testing.T, table string) map[string][2]string {
	t.Helper()
	lines := strings.Split(strings.TrimRight(table, "\n"), "\n")
	// A title line ("peers of <server>") comes first.
	for len(lines) > 0 && strings.Join(strings.Fields(lines[0]), " ") != "PEER ADDRESS FLAGS ACTION" {
		lines = lines[1:]
	}
	if len(lines) == 0 {
		t.Fatalf("table header missing:\n%s", table)
	}
	rows := map[string][2]string{}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) != 4 {
			t.Fatalf("table row %q: want 4 columns", l)
		}
		rows[f[0]] = [2]string{f[2], f[3]}
	}
	return rows
}

func TestPruneAgainstRelay(t *testing.T) {
	r := startPruneRelay(t)
	regular := relaytest.Dial(t, r.url+"/derp", client.Options{})
	notIdeal := relaytest.Dial(t, r.url+"/derp", client.Options{Header: http.Header{"Ideal-Node": {"900a"}}})
	prober := relaytest.Dial(t, r.url+"/derp", client.Options{IsProber: true})
	meshPeer := relaytest.Dial(t, r.url+"/derp", client.Options{MeshKey: r.meshKey})
	name := func(pc *relaytest.Client) string { return pc.PublicKey().String() }

	t.Run("list_table", func(t *testing.T) {
		stdout, stderr, code := r.prune(t, "--list")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		rows := pruneRows(t, stdout)
		want := map[string][2]string{
			name(regular):  {"regular", "keep"},
			name(notIdeal): {"not-ideal", "keep"},
			name(prober):   {"prober", "keep"},
			name(meshPeer): {"mesh", "keep"},
		}
		if len(rows) != len(want) {
			t.Errorf("%d rows, want %d (prune's own connection must not be listed):\n%s", len(rows), len(want), stdout)
		}
		for k, w := range want {
			if rows[k] != w {
				t.Errorf("row for %s: %v, want %v", k, rows[k], w)
			}
		}
		if !strings.Contains(stdout, "127.0.0.1:") {
			t.Errorf("the table shows no client address:\n%s", stdout)
		}
	})

	t.Run("all_dry_run_closes_nothing", func(t *testing.T) {
		stdout, stderr, code := r.prune(t, "--all", "--dry-run")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		rows := pruneRows(t, stdout)
		for _, pc := range []*relaytest.Client{regular, notIdeal, prober} {
			if rows[name(pc)][1] != "would-close" {
				t.Errorf("%s: %v, want would-close", name(pc), rows[name(pc)])
			}
		}
		if rows[name(meshPeer)][1] != "keep" {
			t.Errorf("--all would close a mesh peer: %v", rows[name(meshPeer)])
		}
		for _, pc := range []*relaytest.Client{regular, notIdeal, prober, meshPeer} {
			if !pc.Connected() {
				t.Errorf("--dry-run disconnected %s", name(pc))
			}
		}
	})

	t.Run("list_with_a_choice_only_lists", func(t *testing.T) {
		stdout, stderr, code := r.prune(t, "--list", "--peer", name(regular))
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		if got := pruneRows(t, stdout)[name(regular)][1]; got != "keep" {
			t.Errorf("--list --peer shows action %q, want keep:\n%s", got, stdout)
		}
		if !regular.Connected() {
			t.Error("--list closed the peer")
		}
	})

	t.Run("absent_peer_exits_one", func(t *testing.T) {
		absent := key.NewNode().Public().String()
		stdout, stderr, code := r.prune(t, "--peer", absent, "--json")
		if code != 1 || !strings.Contains(stderr, "not connected") || !strings.Contains(stderr, absent) {
			t.Errorf("exit %d, stderr %q; want 1 naming the absent key", code, stderr)
		}
		var rep pruneReport
		if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
			t.Fatalf("--json output: %v\n%s", err, stdout)
		}
		if !slices.Equal(rep.Missing, []string{absent}) {
			t.Errorf("missing %v, want [%s]", rep.Missing, absent)
		}
	})

	t.Run("wrong_mesh_key_exits_one", func(t *testing.T) {
		wrong := writePruneKey(t, key.NewMesh(), 0o600)
		_, stderr, code := runCLI(t, "prune", "--server", r.url, "--mesh-psk-file", wrong, "--peer", name(regular))
		if code != 1 || !strings.Contains(stderr, "mesh key") {
			t.Errorf("exit %d, stderr %q; want 1 and a message about the mesh key", code, stderr)
		}
		if !regular.Connected() {
			t.Error("a prune with the wrong key closed the peer")
		}
	})

	t.Run("unreachable_exits_one", func(t *testing.T) {
		_, stderr, code := runCLI(t, "prune", "--server", "http://127.0.0.1:1", "--mesh-psk-file", r.keyFile, "--list", "--timeout", "2s")
		if code != 1 || !strings.Contains(stderr, "connect to http://127.0.0.1:1") {
			t.Errorf("exit %d, stderr %q; want 1 and the server named", code, stderr)
		}
	})

	t.Run("peer_json", func(t *testing.T) {
		stdout, stderr, code := r.prune(t, "--peer", name(regular), "--json")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		var rep pruneReport
		if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
			t.Fatalf("--json output: %v\n%s", err, stdout)
		}
		if rep.Server != r.url {
			t.Errorf("server %q", rep.Server)
		}
		for _, p := range rep.Peers {
			want := "keep"
			if p.Key == regular.PublicKey() {
				want = "closed"
			}
			if p.Action != want {
				t.Errorf("%s: action %q, want %q", p.Key.ShortString(), p.Action, want)
			}
		}
		regular.WaitClosed(t)
		for _, pc := range []*relaytest.Client{notIdeal, prober, meshPeer} {
			if !pc.Connected() {
				t.Errorf("--peer also disconnected %s", name(pc))
			}
		}
	})

	t.Run("not_ideal", func(t *testing.T) {
		stdout, stderr, code := r.prune(t, "--not-ideal")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		if rows := pruneRows(t, stdout); rows[name(notIdeal)][1] != "closed" {
			t.Errorf("not-ideal peer: %v, want closed\n%s", rows[name(notIdeal)], stdout)
		}
		notIdeal.WaitClosed(t)
		if !prober.Connected() || !meshPeer.Connected() {
			t.Error("--not-ideal closed another peer")
		}
	})

	t.Run("all_spares_mesh_peers", func(t *testing.T) {
		_, stderr, code := r.prune(t, "--all")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		prober.WaitClosed(t)
		if !meshPeer.Connected() {
			t.Error("--all closed a mesh peer")
		}
	})
}

func TestPruneTableRendering(t *testing.T) {
	var empty bytes.Buffer
	if err := writePruneTable(&empty, pruneReport{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(empty.String(), "(no peers)") {
		t.Errorf("empty table %q", empty.String())
	}
}
