package serverproc

import (
	"os/exec"
	"syscall"
	"testing"
)

// TestSetDeathSignalKeepsAttributes: a command that already has process
// attributes (a network namespace lab sets some) keeps them.
func TestSetDeathSignalKeepsAttributes(t *testing.T) {
	cmd := exec.Command("true")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	SetDeathSignal(cmd)
	if !cmd.SysProcAttr.Setpgid || cmd.SysProcAttr.Pdeathsig != syscall.SIGKILL {
		t.Fatalf("attributes %+v: want Setpgid kept and Pdeathsig SIGKILL", cmd.SysProcAttr)
	}
}
