package serverproc

import (
	"os/exec"
	"syscall"
)

// SetDeathSignal makes the kernel kill the program if its parent (a test
// binary, benchcompare) dies without cleaning up, so no server outlives a
// crashed run.
func SetDeathSignal(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
}
