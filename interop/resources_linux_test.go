package interop

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"unsafe"
)

// Readings and limits of a running process from /proc and prlimit(2),
// for the resource-exhaustion tests.

// setFDLimit sets both the soft and the hard RLIMIT_NOFILE of process pid.
// Setting the hard limit too keeps a Go program from raising its soft
// limit again.
func setFDLimit(pid int, n uint64) error {
	lim := syscall.Rlimit{Cur: n, Max: n}
	_, _, errno := syscall.RawSyscall6(syscall.SYS_PRLIMIT64, uintptr(pid), uintptr(syscall.RLIMIT_NOFILE),
		uintptr(unsafe.Pointer(&lim)), 0, 0, 0)
	if errno != 0 {
		return fmt.Errorf("prlimit(%d, RLIMIT_NOFILE, %d): %w", pid, n, errno)
	}
	return nil
}

// openFDs is the number of descriptors process pid holds.
func openFDs(pid int) (int, error) {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	return len(ents), err
}

// cpuTicks is the user plus system CPU time of process pid, in clock ticks
// (USER_HZ, 100 a second on Linux).
func cpuTicks(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces; fields after ") " are
	// fixed: utime and stime are fields 14 and 15 of the whole line.
	_, rest, ok := strings.Cut(string(b), ") ")
	f := strings.Fields(rest)
	if !ok || len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected %q", pid, b)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: utime %q stime %q", pid, f[11], f[12])
	}
	return utime + stime, nil
}

const clockTicksPerSecond = 100

func mustFDs(t *testing.T, pid int) int {
	t.Helper()
	n, err := openFDs(pid)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
