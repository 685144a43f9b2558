package cmd

import (
	"bytes"
	"strings"
	"testing"

	"github.com/relayctl/relayctl/internal/serverproc"
	"github.com/spf13/cobra"
)

// runCLI runs relayctl args… with empty stdin and returns what it printed
// and its exit code.
func runCLI(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = Execute(args, IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	return out.String(), errOut.String(), code
}

// freePort is a loopback port ("tcp" or "udp") with nothing listening,
// one this test process has not handed out before.
func freePort(t *testing.T, network string) int {
	t.Helper()
	find := serverproc.FreeTCPPort
	if network == "udp" {
		find = serverproc.FreeUDPPort
	}
	port, err := find()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// wantUsageError runs relayctl args… and requires a usage error: exit
// code 2, want in stderr and nothing on stdout. It returns stderr.
func wantUsageError(t *testing.T, want string, args ...string) string {
	t.Helper()
	stdout, stderr, code := runCLI(t, args...)
	if code != 2 {
		t.Errorf("exit code %d, want 2 (stderr: %s)", code, stderr)
	}
	if !strings.Contains(stderr, want) {
		t.Errorf("stderr %q does not name %q", stderr, want)
	}
	if stdout != "" {
		t.Errorf("stdout %q, want nothing", stdout)
	}
	return stderr
}

// executeParsed runs the command c, built by a test on streams with a run
// function that only records its options, with args: what reaches the
// run function is what parsing and validation made of them.
func executeParsed(c *cobra.Command, streams IOStreams, args ...string) error {
	c.SetArgs(args)
	c.SetOut(streams.Out)
	c.SetErr(streams.ErrOut)
	c.SilenceErrors, c.SilenceUsage = true, true
	return c.Execute()
}
