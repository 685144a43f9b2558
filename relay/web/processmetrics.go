package web

import (
	"os"
	"runtime"
	"time"

	"github.com/relayctl/relayctl/internal/metrics"
)

// processStart stands in for the process start time: package variables are
// initialised before main runs.
var processStart = time.Now()

// fdDir lists the process's open file descriptors (Linux).
const fdDir = "/proc/self/fd"

// registerProcessMetrics adds the generic process metrics derper exports,
// skipping any that the caller has registered already (possibly with
// another type).
func registerProcessMetrics(reg *metrics.Registry) {
	if !reg.Has("process_start_unix_time") {
		reg.Gauge("process_start_unix_time", "Unix time the process started.").Set(processStart.Unix())
	}
	if !reg.Has("uptime_sec") {
		reg.CounterFunc("uptime_sec", "Seconds since the process started.", func() float64 {
			return float64(int64(time.Since(processStart).Seconds()))
		})
	}
	if !reg.Has("goroutines") {
		reg.GaugeFunc("goroutines", "Goroutines running.", func() float64 {
			return float64(runtime.NumGoroutine())
		})
	}
	if !reg.Has("go_version") {
		reg.GaugeVec("go_version", "Go release the binary was built with.", "version").With(runtime.Version()).Set(1)
	}
	if _, err := os.Stat(fdDir); err == nil && !reg.Has("derp_current_file_descriptors") {
		reg.GaugeFunc("derp_current_file_descriptors", "Open file descriptors.", func() float64 {
			return float64(countOpenFiles())
		})
	}
}

// countOpenFiles counts fdDir's entries (one is the directory handle used
// to read it). It returns 0 if the directory cannot be read.
func countOpenFiles() int {
	f, err := os.Open(fdDir)
	if err != nil {
		return 0
	}
	defer f.Close()
	n := 0
	for {
		names, err := f.Readdirnames(256)
		n += len(names)
		if err != nil {
			return n
		}
	}
}
