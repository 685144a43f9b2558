package netnslab

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/relayctl/relayctl/internal/serverproc"
	"github.com/relayctl/relayctl/internal/syncbuf"
)

// RelayServeArgs is the `relayctl serve` command line of the lab's relay:
// plain HTTP (DERP, /generate_204, /derp/latency-check) on RelayIP:80 and
// STUN on 3478, its key kept in dir.
func RelayServeArgs(dir string) []string {
	return []string{"serve", "--certmode", "none", "--addr", RelayIP + ":80", "--http-port", "-1",
		"--stun-port", "3478", "--key-file", filepath.Join(dir, "key.json"), "--hostname", RelayIP}
}

// StartServices starts relay, a relayctl command for the relay namespace
// (from Command, with RelayServeArgs), keeping its configuration and state
// in dir; waits until the client reaches it through the gateway; starts
// the gateway's services; and writes DERPMap to a file in dir, whose path
// it returns. The relay's output is shown if it dies first.
func (l *Lab) StartServices(relay *exec.Cmd, dir string) (derpMapPath string) {
	l.t.Helper()
	if relay.Env == nil {
		relay.Env = os.Environ()
	}
	relay.Env = append(relay.Env, "XDG_STATE_HOME="+dir, "XDG_CONFIG_HOME="+dir)
	var logs syncbuf.Buffer
	relay.Stdout, relay.Stderr = &logs, &logs
	p, err := serverproc.Start(relay)
	if err != nil {
		l.t.Fatal(err)
	}
	// Command kills the relay when the test ends; wait for it.
	l.t.Cleanup(func() { <-p.Exited() })
	l.WaitRelay(80, p.Exited(), logs.String)
	l.StartGatewayServices()
	derpMapPath = filepath.Join(dir, "derpmap.json")
	if err := os.WriteFile(derpMapPath, []byte(DERPMap), 0o644); err != nil {
		l.t.Fatal(err)
	}
	return derpMapPath
}

// Tries is how many times a lab check runs before what it finds counts:
// the gateway answers port mapping within 250 ms only if a loaded machine
// lets it.
const Tries = 3

// Retry runs check until it reports no problems, at most Tries times. The
// problems of an earlier try are logged; those of the last fail the test,
// followed by detail (the report, the tool's logs).
func Retry(t testing.TB, check func() (problems []string, detail string)) {
	t.Helper()
	for attempt := 1; ; attempt++ {
		problems, detail := check()
		if len(problems) == 0 {
			return
		}
		if attempt == Tries {
			t.Errorf("%s\n%s", strings.Join(problems, "\n"), detail)
			return
		}
		t.Logf("attempt %d: %s", attempt, strings.Join(problems, "; "))
	}
}
