package configtest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestIsolate(t *testing.T) {
	t.Setenv("RELAYCTL_ADDR", ":1")
	t.Setenv("XDG_CONFIG_HOME", "/elsewhere")
	dir := Isolate(t)
	if _, ok := os.LookupEnv("RELAYCTL_ADDR"); ok {
		t.Error("RELAYCTL_ADDR still set")
	}
	for k, want := range map[string]string{
		"XDG_CONFIG_HOME": filepath.Join(dir, "config"),
		"XDG_STATE_HOME":  filepath.Join(dir, "state"),
		"STATE_DIRECTORY": "",
	} {
		if got := os.Getenv(k); got != want {
			t.Errorf("%s=%q, want %q", k, got, want)
		}
	}
	if !strings.HasPrefix(dir, os.TempDir()) {
		t.Errorf("dir %q not under the temp dir", dir)
	}
}
