package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// binaries are the programs a comparison runs.
type binaries struct {
	relayctl, derper string
}

// buildBinaries builds whatever -relayctl and -derper did not name.
func buildBinaries(ctx context.Context, o options, work string) (binaries, error) {
	b := binaries{relayctl: o.relayctl, derper: o.derper}
	if b.relayctl != "" && b.derper != "" {
		return b, nil
	}
	root, err := moduleRoot(ctx)
	if err != nil {
		return b, err
	}
	if b.relayctl == "" {
		b.relayctl = filepath.Join(work, "relayctl")
		if err := goBuild(ctx, root, b.relayctl, "."); err != nil {
			return b, err
		}
	}
	if b.derper == "" {
		b.derper = filepath.Join(work, "derper")
		if err := goBuild(ctx, filepath.Join(root, "interop"), b.derper, "tailscale.com/cmd/derper"); err != nil {
			return b, err
		}
	}
	return b, nil
}

// moduleRoot is the directory of relayctl's go.mod, found from the working
// directory as the go command finds it.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("run benchcompare inside the relayctl module")
	}
	root := filepath.Dir(gomod)
	if filepath.Base(root) == "interop" {
		root = filepath.Dir(root)
	}
	return root, nil
}

func goBuild(ctx context.Context, dir, out, pkg string) error {
	fmt.Fprintf(os.Stderr, "building %s\n", pkg)
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	cmd.Dir = dir
	cmd.Stdout = os.Stderr
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s in %s: %w", pkg, dir, err)
	}
	return nil
}
