// Package configtest gives tests a process environment in which relayctl's
// setting sources find only what the test puts there: no config file or
// state of the user running the tests, no RELAYCTL_ variable of theirs.
package configtest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/relayctl/relayctl/config"
)

// Isolate points config and state lookups at a fresh temp dir, which it
// returns, and clears every RELAYCTL_ variable for the rest of the test.
// Like t.Setenv, it cannot be used in parallel tests.
func Isolate(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "config"))
	t.Setenv("XDG_STATE_HOME", filepath.Join(dir, "state"))
	t.Setenv("STATE_DIRECTORY", "")
	for _, e := range os.Environ() {
		if k, _, _ := strings.Cut(e, "="); strings.HasPrefix(k, config.EnvPrefix+"_") {
			t.Setenv(k, "") // restored when the test ends
			os.Unsetenv(k)
		}
	}
	return dir
}
