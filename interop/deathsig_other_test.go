//go:build !linux

package interop

import "os/exec"

// setDeathSignal has no portable equivalent; cleanups still kill servers.
func setDeathSignal(*exec.Cmd) {}
