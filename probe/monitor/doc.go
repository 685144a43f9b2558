// Package monitor probes a fleet continuously: every interval it reloads
// the DERP map and runs package prober's probes, keeps each probe's recent
// results and an hour of latency samples, and serves them as an HTML
// status page (/), Prometheus metrics (/metrics) and a health check
// (/healthz) that fails when rounds stop.
package monitor
