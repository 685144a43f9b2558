// Command benchcompare runs the same relayctl bench load against Tailscale's
// derper and against relayctl serve on this machine, each server pinned to
// one CPU and the load to another, several times with the two servers
// interleaved, and prints medians and ratios as a Markdown table.
//
//	go run ./internal/benchcompare [-reps 3] [-duration 5s] [-json results.json]
//
// It builds relayctl from this module and derper from the interop module's
// tailscale.com dependency, unless -relayctl / -derper name binaries. Every
// server is a fresh process on 127.0.0.1, so one scenario's garbage never
// shows up in the next one's memory figures.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

type options struct {
	reps        int
	duration    time.Duration
	scenarios   string
	relayctl    string
	derper      string
	serverCPU   string
	loadCPU     string
	jsonOut     string
	idleClients string
}

func main() {
	var o options
	flag.IntVar(&o.reps, "reps", 3, "repetitions of every scenario on every server")
	flag.DurationVar(&o.duration, "duration", 5*time.Second, "measured time of each throughput and handshake run")
	flag.StringVar(&o.scenarios, "scenarios", "", "comma-separated scenarios to run (default all: "+strings.Join(scenarioNames(), ",")+")")
	flag.StringVar(&o.relayctl, "relayctl", "", "relayctl binary to test and to generate load with (default: build this module)")
	flag.StringVar(&o.derper, "derper", "", "derper binary (default: build tailscale.com/cmd/derper from the interop module)")
	flag.StringVar(&o.serverCPU, "server-cpu", "0", "CPU list (taskset -c) for the server under test")
	flag.StringVar(&o.loadCPU, "load-cpu", "1", "CPU list (taskset -c) for the load generator")
	flag.StringVar(&o.jsonOut, "json", "", "also write every run's bench JSON to this file")
	flag.StringVar(&o.idleClients, "idle-clients", "5000,15000", "client counts of the idle-memory scenarios")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "benchcompare:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	raiseOpenFileLimit()
	work, err := os.MkdirTemp("", "benchcompare-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	bins, err := buildBinaries(ctx, o, work)
	if err != nil {
		return err
	}
	scenarios, err := selectScenarios(o)
	if err != nil {
		return err
	}
	loadBefore := loadAverage()
	h := &harness{bins: bins, work: work, serverCPU: o.serverCPU, loadCPU: o.loadCPU}
	results, failures, err := h.runAll(ctx, scenarios, o.reps)
	if err != nil {
		return err
	}
	if o.jsonOut != "" {
		if err := writeResults(o.jsonOut, results); err != nil {
			return err
		}
	}
	fmt.Print(markdownTable(results, failures, o))
	fmt.Printf("\nload average before: %s; after: %s (other work on the machine disturbs latency most)\n", loadBefore, loadAverage())
	return nil
}

// raiseOpenFileLimit lifts the soft limit on open files to the hard one, for
// this process and the servers and generators it starts: the idle scenarios
// hold one socket per client on each side.
func raiseOpenFileLimit() {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		fmt.Fprintln(os.Stderr, "benchcompare: cannot raise the open-file limit:", err)
	}
}

// loadAverage is /proc/loadavg's first three fields.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
