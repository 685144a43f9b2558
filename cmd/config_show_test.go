package cmd

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/relayctl/relayctl/config"
	"github.com/relayctl/relayctl/config/configtest"
	"github.com/relayctl/relayctl/internal/gendocs"
	"github.com/relayctl/relayctl/internal/syncbuf"
	"github.com/relayctl/relayctl/internal/waitfor"
)

// startRelayctl runs relayctl args… in the background until the test
// ends, and returns once its stderr contains ready.
func startRelayctl(t *testing.T, ready string, args ...string) *syncbuf.Buffer {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	_, errOut, done := goRelayctl(ctx, args)
	t.Cleanup(func() { cancel(); <-done })
	waitFor(t, "relayctl "+strings.Join(args, " ")+": "+ready, func() bool {
		select {
		case <-done:
			t.Fatalf("relayctl exited:\n%s", errOut.String())
		default:
		}
		return strings.Contains(errOut.String(), ready)
	})
	return errOut
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	waitfor.Until(t, 15*time.Second, 20*time.Millisecond, what, cond)
}

// TestConfigShowPendingMatchesTheRunningRelay: config show marks a
// setting pending restart only when the running relay would run with
// another value after a restart, not because the relay got it from its
// own command line, which config show does not see.
func TestConfigShowPendingMatchesTheRunningRelay(t *testing.T) {
	dir := configtest.Isolate(t)
	cfg := filepath.Join(dir, "relayctl.yaml")
	keyFile := filepath.Join(dir, "k.json")
	if err := os.WriteFile(cfg, []byte("accept-connection-burst: 10\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	startRelayctl(t, "relay listening", "serve", "--config", cfg, "--certmode", "none", "--addr", "127.0.0.1:0",
		"--stun=false", "--key-file", keyFile, "--max-conns", "50")

	show := func(extra ...string) map[string]config.Entry {
		t.Helper()
		stdout, stderr, code := runCLI(t, append([]string{"config", "show", "--json", "--config", cfg, "--key-file", keyFile}, extra...)...)
		if code != 0 {
			t.Fatalf("config show: exit %d: %s", code, stderr)
		}
		var entries []config.Entry
		if err := json.Unmarshal([]byte(stdout), &entries); err != nil {
			t.Fatal(err)
		}
		m := map[string]config.Entry{}
		for _, e := range entries {
			m[e.Name] = e
		}
		return m
	}
	for name, e := range show() {
		if e.PendingRestart {
			t.Errorf("%s = %s (%s) shown pending restart, but nothing changed since the relay started", name, e.Value, e.Source)
		}
	}
	if e := show("--max-conns", "60")["max-conns"]; !e.PendingRestart {
		t.Errorf("config show --max-conns 60 against a relay running with 50: not pending")
	}

	if err := os.WriteFile(cfg, []byte("accept-connection-burst: 20\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the file change to be pending", func() bool { return show()["accept-connection-burst"].PendingRestart })
	for name, e := range show() {
		if e.PendingRestart && name != "accept-connection-burst" {
			t.Errorf("%s = %s (%s) shown pending restart", name, e.Value, e.Source)
		}
	}
}

// TestDocsListTheLiveSettings: docs/configuration.md's lists of live and
// node-local settings are the ones the settings' declarations give.
func TestDocsListTheLiveSettings(t *testing.T) {
	for _, sec := range DocSections() {
		ok, err := gendocs.Section{File: sec.File, Name: sec.Name, Body: sec.Body}.Current("..")
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			t.Errorf("%s: section %q is stale; run `go generate ./...` and commit", sec.File, sec.Name)
		}
	}
}
