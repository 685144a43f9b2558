package metrics

import (
	"io"
	"strings"
)

// Two sets of names.
//
// /debug/varz serves every family under the name it was registered with:
// derper's names, so dashboards built for derper keep working.
//
// /metrics (--metrics-addr, the prober) serves the same families under
// names that follow Prometheus' conventions, derived from the type by one
// rule, so a family added anywhere follows it without a table to update:
//
//   - a counter ends in _total (a "total" word elsewhere in its name is
//     dropped: derp_total_dup_client_conns → derp_dup_client_conns_total);
//     a gauge or histogram does not (derp_clients_total → derp_clients);
//   - abbreviated units are spelled out: _sec → _seconds;
//   - every name is in a namespace: derp_ (derper's), relayctl_ (ours), or
//     the standard go_ and process_; others get relayctl_ (stun_requests
//     → relayctl_stun_requests_total), and the Go runtime's usual names
//     are used where they exist (goroutines → go_goroutines,
//     process_start_unix_time → process_start_time_seconds).

// standardNames are the Prometheus client libraries' names for process
// and runtime facts, which dashboards and recording rules expect.
var standardNames = map[string]string{
	"goroutines":              "go_goroutines",
	"process_start_unix_time": "process_start_time_seconds",
}

// namespaces a conventional name may start with.
var namespaces = []string{"derp_", "relayctl_", "go_", "process_"}

// unitWords spells out abbreviated units, word by word.
var unitWords = map[string]string{"sec": "seconds", "secs": "seconds"}

// conventionalName is the name /metrics serves a family of kind k under;
// see the package's naming rule above.
func conventionalName(name string, k kind) string {
	if std, ok := standardNames[name]; ok {
		return std
	}
	words := strings.Split(name, "_")
	out := words[:0]
	for _, w := range words {
		if w == "total" {
			continue
		}
		if u, ok := unitWords[w]; ok {
			w = u
		}
		out = append(out, w)
	}
	n := strings.Join(out, "_")
	namespaced := false
	for _, ns := range namespaces {
		if strings.HasPrefix(n, ns) {
			namespaced = true
		}
	}
	if !namespaced {
		n = "relayctl_" + n
	}
	if k == kindCounter {
		n += "_total"
	}
	return n
}

// WriteConventional writes every family like WritePrometheus, under its
// conventional name (conventionalName): what /metrics serves.
func (r *Registry) WriteConventional(w io.Writer) error {
	return r.write(w, func(f *family) string { return conventionalName(f.name, f.kind) })
}
