package cmd

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	"github.com/relayctl/relayctl/relay/key"
)

func TestKeygen(t *testing.T) {
	var out bytes.Buffer
	if code := Execute([]string{"keygen"}, IOStreams{Out: &out, ErrOut: &out}); code != 0 {
		t.Fatalf("exit %d: %s", code, out.String())
	}
	if !regexp.MustCompile(`^[0-9a-f]{64}\n$`).MatchString(out.String()) {
		t.Fatalf("mesh key output %q, want 64 lowercase hex and a newline", out.String())
	}
	if _, err := key.ParseMeshKey(out.String()); err != nil {
		t.Fatal(err)
	}

	out.Reset()
	if code := Execute([]string{"keygen", "--node"}, IOStreams{Out: &out, ErrOut: &out}); code != 0 {
		t.Fatalf("exit %d", code)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %q", out.String())
	}
	priv, err := key.ParseNodePrivate(lines[0])
	if err != nil {
		t.Fatal(err)
	}
	if pub, err := key.ParseNodePublic(lines[1]); err != nil || pub != priv.Public() {
		t.Fatalf("public key line %q does not match the private key (%v)", lines[1], err)
	}
}

func TestVersionJSON(t *testing.T) {
	var out bytes.Buffer
	if code := Execute([]string{"version", "--json"}, IOStreams{Out: &out, ErrOut: &out}); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if !strings.Contains(out.String(), `"go_version": "go1.`) {
		t.Fatalf("version JSON %s lacks go_version", out.String())
	}
}

func TestUnknownCommandExitsTwo(t *testing.T) {
	var out bytes.Buffer
	if code := Execute([]string{"serv"}, IOStreams{Out: &out, ErrOut: &out}); code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
	if !strings.Contains(out.String(), "serve") {
		t.Errorf("no suggestion in %q", out.String())
	}
}
