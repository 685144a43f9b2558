package node

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/relayctl/relayctl/config"
	"github.com/relayctl/relayctl/config/configtest"
)

// TestRunningStatusFile: running-config.json is written through a fresh
// temporary file (a symlink planted at the old fixed name
// running-config.json.tmp wrote the config, credentials included, over
// its target) and keeps no URL credentials or query.
func TestRunningStatusFile(t *testing.T) {
	dir := configtest.Isolate(t)
	keyDir := filepath.Join(dir, "keys")
	if err := os.Mkdir(keyDir, 0o700); err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(keyDir, "relay-key.json")
	src := sourcesFor(t, "", "--certmode", "none", "--addr", "127.0.0.1:0", "--key-file", keyFile,
		"--verify-client-url", "https://user:pw@admit.example/verify?token=s3cret")
	victim := filepath.Join(dir, "victim")
	if err := os.WriteFile(victim, []byte("untouched"), 0o600); err != nil {
		t.Fatal(err)
	}
	statusPath := statusFileFor(keyFile)
	if err := os.Symlink(victim, statusPath+".tmp"); err != nil {
		t.Fatal(err)
	}
	w, _, err := config.NewWatcher(Spec(), src, config.WatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := writeRunningStatus(statusPath, time.Now(), w.Initial(), nil); err != nil {
		t.Fatal(err)
	}

	if b, _ := os.ReadFile(victim); string(b) != "untouched" {
		t.Fatalf("the symlink's target was overwritten: %q", b)
	}
	b, err := os.ReadFile(statusPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"s3cret", "user:pw"} {
		if strings.Contains(string(b), secret) {
			t.Fatalf("running-config.json holds %q:\n%s", secret, b)
		}
	}
	if !strings.Contains(string(b), `"verify-client-url": "https://admit.example/verify?\u003credacted\u003e"`) {
		t.Fatalf("running-config.json lacks the redacted URL:\n%s", b)
	}
	st, ok := ReadRunningStatus(keyFile)
	if !ok || st.PID != os.Getpid() {
		t.Fatalf("status not readable back: %+v %v", st, ok)
	}
}

func TestWarnSecretInArgv(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  string
		warn bool
	}{
		{"flag_with_token", []string{"--verify-client-url", "https://admit.example/v?token=s3cret"}, "", true},
		{"flag_with_userinfo", []string{"--verify-client-url", "https://u:pw@admit.example/v"}, "", true},
		{"flag_plain", []string{"--verify-client-url", "https://admit.example/v"}, "", false},
		{"env_with_token", nil, "https://admit.example/v?token=s3cret", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			configtest.Isolate(t)
			if tc.env != "" {
				t.Setenv(config.EnvName("verify-client-url"), tc.env)
			}
			n, err := newFromArgs(t, append([]string{"--certmode", "none", "--addr", "127.0.0.1:0"}, tc.args...)...)
			if err != nil {
				t.Fatal(err)
			}
			var logs strings.Builder
			warnSecretInArgv(&n.cfg, n.src, slog.New(slog.NewTextHandler(&logs, nil)))
			if got := strings.Contains(logs.String(), "on the command line"); got != tc.warn {
				t.Fatalf("warned %v, want %v:\n%s", got, tc.warn, logs.String())
			}
			if strings.Contains(logs.String(), "s3cret") || strings.Contains(logs.String(), "pw@") {
				t.Fatalf("the warning shows the secret:\n%s", logs.String())
			}
		})
	}
}
