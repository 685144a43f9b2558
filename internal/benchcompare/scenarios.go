package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// scenario is one relayctl bench invocation; the harness adds --server,
// --server-pid and --json.
type scenario struct {
	name string
	args []string
	// limit bounds the whole bench run, connecting and draining included.
	limit time.Duration
	// tls serves DERP over TLS (a self-signed certificate for 127.0.0.1);
	// meshed runs two nodes of one region, senders on the first and
	// receivers on the second (see netScenarios).
	tls, meshed bool
}

func throughput(name string, d time.Duration, args ...string) scenario {
	args = append([]string{"--duration", d.String()}, args...)
	return scenario{name: name, args: args, limit: 2*d + time.Minute}
}

// stall is a throughput scenario with a baseline and a control phase
// before the measured stall: three times d.
func stall(name string, d time.Duration, args ...string) scenario {
	sc := throughput(name, d, args...)
	sc.limit = 3*d + time.Minute
	return sc
}

// exchangeSettle is the quiet after the realistic idle run's packets:
// past the relay's 60 s keepalives.
const exchangeSettle = 75 * time.Second

// allScenarios are the figures, in running order.
func allScenarios(d time.Duration, idleClients []int) []scenario {
	s := []scenario{
		throughput("closed-1200", d, "--pairs", "8", "--size", "1200", "--window", "32"),
		throughput("open-1200", d, "--pairs", "8", "--size", "1200", "--open-loop"),
		throughput("closed-64", d, "--pairs", "8", "--size", "64", "--window", "32"),
		throughput("closed-16000", d, "--pairs", "8", "--size", "16000", "--window", "32"),
		// Run three times as long: baseline, control, then the stall.
		stall("stall-1200", d, "--pairs", "8", "--size", "1200", "--window", "32", "--stall-receivers", "1"),
		stall("stall-mixed-1200", d, "--pairs", "8", "--size", "1200", "--window", "32", "--stall-mixed"),
		{name: "handshakes", args: []string{"handshakes", "--duration", d.String(), "--parallel", "32"}, limit: d + time.Minute},
	}
	s = append(s, netScenarios(d)...)
	for _, n := range idleClients {
		s = append(s, scenario{
			name:  fmt.Sprintf("idle-%d", n),
			args:  []string{"idle", "--clients", strconv.Itoa(n), "--parallel", "32", "--settle", "3s"},
			limit: 2*time.Minute + time.Duration(n)*10*time.Millisecond,
		})
		s = append(s, scenario{
			name:  fmt.Sprintf("idle-exchange-%d", n),
			args:  []string{"idle", "--clients", strconv.Itoa(n), "--parallel", "32", "--exchange", "--settle", exchangeSettle.String()},
			limit: 2*time.Minute + exchangeSettle + time.Duration(n)*20*time.Millisecond,
		})
	}
	return s
}

func scenarioNames() []string {
	var names []string
	for _, s := range allScenarios(time.Second, []int{5000, 15000}) {
		names = append(names, s.name)
	}
	return names
}

func selectScenarios(o options) ([]scenario, error) {
	var idle []int
	for _, f := range strings.Split(o.idleClients, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("-idle-clients: %q is not a client count", f)
		}
		idle = append(idle, n)
	}
	all := allScenarios(o.duration, idle)
	if o.scenarios == "" {
		return all, nil
	}
	var picked []scenario
	for _, name := range strings.Split(o.scenarios, ",") {
		name = strings.TrimSpace(name)
		i := slices.IndexFunc(all, func(s scenario) bool { return s.name == name })
		if i < 0 {
			return nil, fmt.Errorf("-scenarios: no scenario %q (have %s)", name, strings.Join(names(all), ", "))
		}
		picked = append(picked, all[i])
	}
	return picked, nil
}

func names(s []scenario) []string {
	var n []string
	for _, x := range s {
		n = append(n, x.name)
	}
	return n
}
