package gendocs_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// buildRelayctl puts a relayctl binary on a fresh PATH directory: the
// completion scripts call it (relayctl __complete …) for every completion.
func buildRelayctl(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "relayctl"), "../..")
	build.Env = append(os.Environ(), "GOTOOLCHAIN=local")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return dir
}

func script(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "..", "completions", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestBashCompletion loads the committed script in bash and completes a
// flag value through it, as pressing Tab would.
func TestBashCompletion(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("bash not installed")
	}
	const bashCompletion = "/usr/share/bash-completion/bash_completion"
	if _, err := os.Stat(bashCompletion); err != nil {
		t.Skip("bash-completion not installed (Debian: apt-get install bash-completion); .ci/run installs it")
	}
	bin := buildRelayctl(t)
	src := `source ` + bashCompletion + `
source "$1"
complete -p relayctl
COMP_LINE='relayctl serve --certmode '
COMP_POINT=${#COMP_LINE}
COMP_WORDS=(relayctl serve --certmode '')
COMP_CWORD=3
__start_relayctl relayctl '' --certmode
printf 'reply:%s\n' "${COMPREPLY[@]}"`
	cmd := exec.Command(bash, "--norc", "--noprofile", "-c", src, "bash", script(t, "relayctl.bash"))
	cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("bash: %v\n%s", err, out)
	}
	got := string(out)
	if !strings.Contains(got, "-F __start_relayctl relayctl") {
		t.Errorf("completion not registered:\n%s", got)
	}
	for _, want := range []string{"reply:letsencrypt", "reply:manual", "reply:none"} {
		if !strings.Contains(got, want) {
			t.Errorf("bash completion of --certmode lacks %q:\n%s", want, got)
		}
	}
}

// TestZshCompletion loads the committed script in zsh's completion system.
func TestZshCompletion(t *testing.T) {
	zsh, err := exec.LookPath("zsh")
	if err != nil {
		t.Skip("zsh not installed (Debian: apt-get install zsh); .ci/run installs it")
	}
	bin := buildRelayctl(t)
	fpath := t.TempDir()
	b, err := os.ReadFile(script(t, "relayctl.zsh"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(fpath, "_relayctl"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	src := `fpath=("$1" $fpath)
autoload -U compinit && compinit -u -d "$2/zcompdump"
print -r -- "registered:${_comps[relayctl]}"
autoload -U _relayctl
(( $+functions[_relayctl] )) && print -r -- "function:_relayctl"
relayctl __complete serve --certmode '' | head -3`
	cmd := exec.Command(zsh, "-f", "-c", src, "zsh", fpath, t.TempDir())
	cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("zsh: %v\n%s", err, out)
	}
	got := string(out)
	for _, want := range []string{"registered:_relayctl", "function:_relayctl", "letsencrypt"} {
		if !strings.Contains(got, want) {
			t.Errorf("zsh output lacks %q:\n%s", want, got)
		}
	}
}
