package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/relayctl/relayctl/internal/waitfor"
)

// testSpec is a small command's settings.
func testSpec() Spec {
	return Spec{
		NewFlags: func() *pflag.FlagSet {
			fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
			fs.String("addr", ":443", "listen address")
			fs.Int("stun-port", 3478, "STUN port")
			fs.Int64("per-client-rate-limit", 0, "rate")
			fs.String("log-level", "info", "log level")
			fs.String("verify-client-url", "", "webhook")
			fs.StringSlice("mesh-with", nil, "peers")
			fs.Int("region-id", 0, "region")
			fs.String("node-name", "", "node")
			fs.String("config", "", "config file")
			fs.StringSlice("policy", nil, "policy")
			return fs
		},
		Meta: map[string]Meta{
			"per-client-rate-limit": {Live: true},
			"log-level":             {Live: true},
			"verify-client-url":     {Live: true, Secret: true},
			"region-id":             {Local: true},
			"node-name":             {Local: true},
		},
		NotSettings:   []string{FileFlag, PolicyFlag},
		RegionSetting: "region-id",
		NodeSetting:   "node-name",
	}
}

func write(t *testing.T, path, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func envMap(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func entry(t *testing.T, r *Result, name string) Entry {
	t.Helper()
	e, ok := r.Lookup(name)
	if !ok {
		t.Fatalf("no setting %s", name)
	}
	return e
}

// TestPrecedenceAcrossFiveSources: policy > flag > env > file > default.
func TestPrecedenceAcrossFiveSources(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "relayctl.yaml")
	write(t, cfg, "addr: :1001\nstun-port: 1002\nlog-level: warn\nper-client-rate-limit: 1004\nmesh-with: [a.example, b.example]\n")
	write(t, filepath.Join(dir, "policy", "fleet.yaml"), "settings:\n  per-client-rate-limit: 5000\n")
	res, err := Resolve(testSpec(), Sources{
		File:     cfg,
		Policies: []string{filepath.Join(dir, "policy")},
		Env:      envMap(map[string]string{"RELAYCTL_STUN_PORT": "2002", "RELAYCTL_LOG_LEVEL": "error", "RELAYCTL_PER_CLIENT_RATE_LIMIT": "2004"}),
		Flags:    map[string][]string{"log-level": {"debug"}, "per-client-rate-limit": {"3004"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []struct {
		name, value string
		source      Source
	}{
		{"region-id", "0", SourceDefault},
		{"addr", ":1001", SourceFile},
		{"mesh-with", "a.example,b.example", SourceFile},
		{"stun-port", "2002", SourceEnv},
		{"log-level", "debug", SourceFlag},
		{"per-client-rate-limit", "5000", SourcePolicy},
	} {
		e := entry(t, res, want.name)
		if e.Value != want.value || e.Source != want.source {
			t.Errorf("%s = %q from %s, want %q from %s", want.name, e.Value, e.Source, want.value, want.source)
		}
	}
	// Enforcement: the flag asked for 3004; policy won and says so.
	if e := entry(t, res, "per-client-rate-limit"); e.Overridden != "3004" {
		t.Errorf("policy override not reported: %+v", e)
	}
	if got, _ := res.Flags.GetInt64("per-client-rate-limit"); got != 5000 {
		t.Errorf("typed value %d", got)
	}
}

func TestPolicyScopes(t *testing.T) {
	dir := t.TempDir()
	pol := filepath.Join(dir, "policy.d")
	write(t, filepath.Join(pol, "10-fleet.yaml"), "settings: {stun-port: 1, addr: ':1', log-level: warn}\n")
	write(t, filepath.Join(pol, "20-region.yaml"), "scope: {region: 900}\nsettings: {stun-port: 2, addr: ':2'}\n")
	write(t, filepath.Join(pol, "30-node.json"), `{"scope": {"node": "derp1"}, "settings": {"stun-port": 3}}`)
	write(t, filepath.Join(pol, "40-other-region.toml"), "[scope]\nregion = 901\n[settings]\nlog-level = \"error\"\n")
	write(t, filepath.Join(pol, "README.md"), "not a policy")
	for _, tc := range []struct {
		name                 string
		flags                map[string][]string
		stun, addr, logLevel string
	}{
		{"fleet_only", nil, "1", ":1", "warn"},
		{"region_900", map[string][]string{"region-id": {"900"}}, "2", ":2", "warn"},
		{"node_in_region", map[string][]string{"region-id": {"900"}, "node-name": {"derp1"}}, "3", ":2", "warn"},
		{"region_901", map[string][]string{"region-id": {"901"}}, "1", ":1", "error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Resolve(testSpec(), Sources{Policies: []string{pol}, Flags: tc.flags})
			if err != nil {
				t.Fatal(err)
			}
			if e := entry(t, res, "stun-port"); e.Value != tc.stun {
				t.Errorf("stun-port %s from %s, want %s", e.Value, e.Origin, tc.stun)
			}
			if e := entry(t, res, "addr"); e.Value != tc.addr {
				t.Errorf("addr %s, want %s", e.Value, tc.addr)
			}
			if e := entry(t, res, "log-level"); e.Value != tc.logLevel {
				t.Errorf("log-level %s, want %s", e.Value, tc.logLevel)
			}
		})
	}
}

func TestResolveErrorsNameTheCulprit(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, file, policy string
		env                map[string]string
		want               []string
	}{
		{"unknown_file_key", "stun-prot: 1\n", "", nil, []string{"relayctl.yaml", `"stun-prot"`, `did you mean "stun-port"`}},
		{"bad_file_value", "stun-port: many\n", "", nil, []string{"relayctl.yaml: stun-port: many: "}},
		{"bad_env_value", "", "", map[string]string{"RELAYCTL_STUN_PORT": "x"}, []string{`RELAYCTL_STUN_PORT="x": `}},
		{"bad_policy_value", "", "settings: {stun-port: x}\n", nil, []string{"fleet policy ", "p.yaml: stun-port: x: "}},
		{"policy_sets_local", "", "settings: {node-name: x}\n", nil, []string{"node-name", "cannot be set by policy"}},
		{"policy_unknown_section", "", "setings: {stun-port: 1}\n", nil, []string{`unknown section "setings"`}},
		{"policy_bad_tag_key", "", "tags: {\"tag:ops\": [nodekey:abc]}\n", nil, []string{"fleet policy ", "p.yaml: tags.tag:ops: \"nodekey:abc\": want a node key"}},
		{"policy_bad_acl", "", "acls: [{action: deny, src: ['*'], dst: ['*']}]\n", nil, []string{`only "accept"`}},
		{"bad_yaml", "stun-port: [1\n", "", nil, []string{"relayctl.yaml"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := filepath.Join(dir, tc.name)
			src := Sources{Env: envMap(tc.env)}
			if tc.file != "" {
				src.File = filepath.Join(d, "relayctl.yaml")
				write(t, src.File, tc.file)
			}
			if tc.policy != "" {
				write(t, filepath.Join(d, "pol", "p.yaml"), tc.policy)
				src.Policies = []string{filepath.Join(d, "pol")}
			}
			_, err := Resolve(testSpec(), src)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// TestUnknownEnvSuggests: a RELAYCTL_* variable that names no setting is
// reported with the nearest one; the environment is shared with other
// programs, so it is a warning rather than an error.
func TestUnknownEnvSuggests(t *testing.T) {
	res, err := Resolve(testSpec(), Sources{Environ: []string{
		"RELAYCTL_STUN_PROT=1", "RELAYCTL_STUN_PORT=2", "RELAYCTL_CONFIG=x.yaml", "PATH=/bin",
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := `environment: RELAYCTL_STUN_PROT is not a setting (did you mean "RELAYCTL_STUN_PORT"?); ignored`
	if len(res.Warnings) != 1 || res.Warnings[0] != want {
		t.Fatalf("warnings %q, want [%q]", res.Warnings, want)
	}
}

// TestSpelledNamesTheSource: an error about a resolved value quotes it as
// its source holds it.
func TestSpelledNamesTheSource(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "relayctl.yaml")
	write(t, cfg, "stun-port: 99999\n")
	res, err := Resolve(testSpec(), Sources{
		File: cfg, Env: envMap(map[string]string{"RELAYCTL_LOG_LEVEL": "loud"}),
		Flags: map[string][]string{"addr": {":8443"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"stun-port": cfg + ": stun-port: 99999",
		"log-level": `RELAYCTL_LOG_LEVEL="loud"`,
		"addr":      "--addr :8443",
		"node-name": `--node-name "" (the default)`,
	} {
		if got := res.Spelled(name); got != want {
			t.Errorf("%s spelled %q, want %q", name, got, want)
		}
	}
}

func TestSecretsRedacted(t *testing.T) {
	res, err := Resolve(testSpec(), Sources{Flags: map[string][]string{"verify-client-url": {"https://token@admit.example/x"}}})
	if err != nil {
		t.Fatal(err)
	}
	if e := entry(t, res, "verify-client-url"); e.Shown().Value != Redacted || e.Value == Redacted {
		t.Fatalf("shown %q, raw %q", e.Shown().Value, e.Value)
	}
}

// TestWatcherDebouncesAndKeepsLastGood: 50 quick writes make one
// recomputation; a broken file is rejected and the last good set stays;
// live changes are applied, restart-only ones reported pending.
func TestWatcherDebouncesAndKeepsLastGood(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "relayctl.yaml")
	write(t, cfg, "per-client-rate-limit: 1\n")
	var changes, errs atomic.Int32
	var last atomic.Pointer[Change]
	w, first, err := NewWatcher(testSpec(), Sources{File: cfg}, WatchOptions{
		Debounce: 200 * time.Millisecond,
		OnChange: func(c Change) { changes.Add(1); last.Store(&c) },
		OnError:  func(error) { errs.Add(1) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if entry(t, first, "per-client-rate-limit").Value != "1" {
		t.Fatal("first resolution wrong")
	}
	done := make(chan error, 1)
	go func() { done <- w.Run(t.Context()) }()
	select {
	case <-w.Watching():
	case <-time.After(5 * time.Second):
		t.Fatal("watcher did not start")
	}

	for i := range 50 {
		write(t, cfg, fmt.Sprintf("per-client-rate-limit: %d\naddr: ':9%03d'\n", 100+i, i))
	}
	waitCond(t, "one recomputation", func() bool { return changes.Load() == 1 })
	time.Sleep(400 * time.Millisecond) // no second one trails the burst
	if n := changes.Load(); n != 1 {
		t.Fatalf("%d recomputations for a burst of 50 writes, want 1", n)
	}
	c := last.Load()
	if len(c.Applied) != 1 || c.Applied[0].Name != "per-client-rate-limit" || c.Applied[0].Value != "149" {
		t.Errorf("applied %+v", c.Applied)
	}
	if len(c.Pending) != 1 || c.Pending[0].Name != "addr" || !entry(t, w.Current(), "addr").PendingRestart {
		t.Errorf("pending %+v", c.Pending)
	}

	write(t, cfg, "per-client-rate-limit: [broken\n")
	waitCond(t, "rejection", func() bool { return errs.Load() == 1 })
	if v := entry(t, w.Current(), "per-client-rate-limit").Value; v != "149" {
		t.Fatalf("after a broken file the set in force has %s, want the last good 149", v)
	}

	// SIGHUP-style reload after a fix.
	write(t, cfg, "per-client-rate-limit: 7\n")
	w.Reload()
	waitCond(t, "fixed file applied", func() bool { return entry(t, w.Current(), "per-client-rate-limit").Value == "7" })
	if len(w.Pending()) != 0 {
		t.Errorf("addr back to its start value is still pending: %+v", w.Pending())
	}
}

func waitCond(t *testing.T, what string, cond func() bool) {
	t.Helper()
	waitfor.Until(t, 5*time.Second, 10*time.Millisecond, what, cond)
}

// TestPolicyACLNamesUndefinedTag: a rule naming a tag no document defines
// would drop every packet; the error names the file, the rule and the tag.
func TestPolicyACLNamesUndefinedTag(t *testing.T) {
	dir := t.TempDir()
	pol := filepath.Join(dir, "policy.d")
	write(t, filepath.Join(pol, "tags.yaml"), "tags: {\"tag:ops\": [nodekey:0000000000000000000000000000000000000000000000000000000000000001]}\n")
	write(t, filepath.Join(pol, "zacl.yaml"), "acls:\n- {action: accept, src: [tag:ops], dst: ['*']}\n- {action: accept, src: ['*'], dst: [tag:nope]}\n")
	_, err := Resolve(testSpec(), Sources{Policies: []string{pol}})
	want := `fleet policy ` + filepath.Join(pol, "zacl.yaml") + `: acls[1].dst: tag "tag:nope" is not defined`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("error %v, want it to contain %q", err, want)
	}
}

// TestConfigFileURLNamed: a URL given as the config file is refused as a
// URL, with the setting that does read one, rather than as a file that
// does not exist.
func TestConfigFileURLNamed(t *testing.T) {
	for _, u := range []string{"https://example.invalid/relayctl.yaml", "http://example.invalid/relayctl.yaml"} {
		_, err := Resolve(testSpec(), Sources{File: u, FileExplicit: true, Env: envMap(nil)})
		if err == nil {
			t.Fatalf("%s accepted", u)
		}
		for _, w := range []string{u, "a URL", "--" + PolicyFlag} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q lacks %q", err, w)
			}
		}
	}
}
