// Package gendocs writes what is generated from relayctl's command tree:
// shell completion scripts, the Markdown CLI reference and man pages. It
// runs through `go generate ./...` (see main.go), and its test fails when
// the committed files are stale.
package gendocs

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// manDate is fixed so that regenerating without changes changes nothing.
var manDate = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

// Files renders every generated file, by path relative to the repository
// root.
func Files(root *cobra.Command) (map[string][]byte, error) {
	out := map[string][]byte{}
	var buf bytes.Buffer
	for name, gen := range map[string]func() error{
		"completions/relayctl.bash": func() error { return root.GenBashCompletionV2(&buf, true) },
		"completions/relayctl.zsh":  func() error { return root.GenZshCompletion(&buf) },
		"completions/relayctl.fish": func() error { return root.GenFishCompletion(&buf, true) },
		"completions/relayctl.ps1":  func() error { return root.GenPowerShellCompletionWithDesc(&buf) },
	} {
		buf.Reset()
		if err := gen(); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		out[name] = bytes.Clone(buf.Bytes())
	}

	tmp, err := os.MkdirTemp("", "relayctl-gendocs-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	md, man := filepath.Join(tmp, "cli"), filepath.Join(tmp, "man")
	os.MkdirAll(md, 0o755)
	os.MkdirAll(man, 0o755)
	if err := doc.GenMarkdownTree(root, md); err != nil {
		return nil, fmt.Errorf("markdown reference: %w", err)
	}
	if err := doc.GenManTree(root, &doc.GenManHeader{Title: "RELAYCTL", Section: "1", Source: "relayctl", Manual: "relayctl manual", Date: &manDate}, man); err != nil {
		return nil, fmt.Errorf("man pages: %w", err)
	}
	for dir, prefix := range map[string]string{md: "docs/cli/", man: "docs/man/"} {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				return nil, err
			}
			out[prefix+e.Name()] = b
		}
	}
	return out, nil
}

// Write replaces the generated files under repo, removing stale ones from
// the generated directories.
func Write(root *cobra.Command, repo string) error {
	files, err := Files(root)
	if err != nil {
		return err
	}
	for _, dir := range []string{"completions", "docs/cli", "docs/man"} {
		entries, _ := os.ReadDir(filepath.Join(repo, dir))
		for _, e := range entries {
			if _, keep := files[dir+"/"+e.Name()]; !keep && !e.IsDir() && e.Name() != "README.md" {
				os.Remove(filepath.Join(repo, dir, e.Name()))
			}
		}
	}
	for name, b := range files {
		path := filepath.Join(repo, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			return err
		}
	}
	return nil
}
