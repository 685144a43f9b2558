//go:build !linux

package serverproc

import "os/exec"

// SetDeathSignal has no portable equivalent; callers still kill their
// programs when done.
func SetDeathSignal(*exec.Cmd) {}
