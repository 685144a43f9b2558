package main

import (
	"bytes"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/relayctl/relayctl/cmd"
	"github.com/relayctl/relayctl/internal/gendocs"
)

// TestGeneratedFilesAreCurrent fails when a command, flag or help text
// changed without `go generate ./...`.
func TestGeneratedFilesAreCurrent(t *testing.T) {
	files, err := gendocs.Files(cmd.NewRootCmd(cmd.IOStreams{Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}}))
	if err != nil {
		t.Fatal(err)
	}
	repo := filepath.Join("..", "..")
	var stale []string
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join(repo, name))
		if err != nil || !bytes.Equal(got, want) {
			stale = append(stale, name)
		}
	}
	for _, dir := range []string{"completions", "docs/cli", "docs/man"} {
		entries, _ := os.ReadDir(filepath.Join(repo, dir))
		for _, e := range entries {
			if _, ok := files[dir+"/"+e.Name()]; !ok && e.Name() != "README.md" {
				stale = append(stale, dir+"/"+e.Name()+" (no longer generated)")
			}
		}
	}
	sort.Strings(stale)
	if len(stale) > 0 {
		t.Fatalf("generated files are stale; run `go generate ./...` and commit:\n%v", stale)
	}
}
