package loadgen

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of the CPU times in /proc/<pid>/stat. The kernel
// exports them in USER_HZ, which is 100 on every architecture Linux
// supports today.
const userHZ = 100

// ProcessCPU is the user plus system CPU time a process (all its threads)
// has used, from /proc/<pid>/stat; pid 0 means this process.
func ProcessCPU(pid int) (time.Duration, error) {
	path := procPath(pid, "stat")
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	d, err := parseStatCPU(b)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return d, nil
}

func parseStatCPU(b []byte) (time.Duration, error) {
	// The command name (field 2) is in parentheses and may hold spaces
	// or parentheses itself, so fields are counted from the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("no command name")
	}
	fields := strings.Fields(string(b[i+1:]))
	// After the name: state is field 3, utime 14 and stime 15.
	const utimeIdx, stimeIdx = 14 - 3, 15 - 3
	if len(fields) <= stimeIdx {
		return 0, fmt.Errorf("%d fields after the command name, want more than %d", len(fields), stimeIdx)
	}
	var ticks uint64
	for _, f := range []string{fields[utimeIdx], fields[stimeIdx]} {
		n, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return 0, err
		}
		ticks += n
	}
	return time.Duration(ticks) * (time.Second / userHZ), nil
}

// ProcessRSS is a process's resident set size in bytes, from the VmRSS
// line of /proc/<pid>/status; pid 0 means this process.
func ProcessRSS(pid int) (int64, error) {
	path := procPath(pid, "status")
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	n, err := parseStatusRSS(string(b))
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return n, nil
}

func parseStatusRSS(status string) (int64, error) {
	for line := range strings.Lines(status) {
		rest, ok := strings.CutPrefix(line, "VmRSS:")
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("VmRSS: %w", err)
		}
		return kb << 10, nil
	}
	return 0, errors.New("no VmRSS line")
}

func procPath(pid int, file string) string {
	if pid == 0 {
		return "/proc/self/" + file
	}
	return "/proc/" + strconv.Itoa(pid) + "/" + file
}

// cpuMeter measures the CPU time of the server (when its pid is known) and
// of this generator over an interval.
type cpuMeter struct {
	serverPID         int
	server, generator time.Duration
	wall              time.Time
}

func startCPUMeter(serverPID int) (*cpuMeter, error) {
	m := &cpuMeter{serverPID: serverPID, wall: time.Now()}
	var err error
	if serverPID != 0 {
		if m.server, err = ProcessCPU(serverPID); err != nil {
			return nil, fmt.Errorf("server pid %d: %w", serverPID, err)
		}
	}
	m.generator, _ = ProcessCPU(0)
	return m, nil
}

// CPUUsage is CPU time spent by one process during a measurement.
type CPUUsage struct {
	Seconds float64 `json:"cpu_seconds"`
	// Utilization is Seconds over the wall-clock time: 1.0 is one core
	// kept busy throughout.
	Utilization float64 `json:"cpu_utilization"`
}

// stop returns the usage since start; server is nil without a pid.
func (m *cpuMeter) stop() (server *CPUUsage, generator CPUUsage, err error) {
	wall := time.Since(m.wall).Seconds()
	usage := func(d time.Duration) CPUUsage {
		return CPUUsage{Seconds: d.Seconds(), Utilization: d.Seconds() / wall}
	}
	if g, gerr := ProcessCPU(0); gerr == nil {
		generator = usage(g - m.generator)
	}
	if m.serverPID != 0 {
		s, err := ProcessCPU(m.serverPID)
		if err != nil {
			return nil, generator, fmt.Errorf("server pid %d: %w", m.serverPID, err)
		}
		u := usage(s - m.server)
		server = &u
	}
	return server, generator, nil
}
