package main

import "time"

// netScenarios are the production shapes: DERP over TLS, and a packet
// forwarded between two meshed nodes (over TLS, as derper meshes).
func netScenarios(d time.Duration) []scenario {
	tls := throughput("tls-1200", d, "--pairs", "8", "--size", "1200", "--window", "32")
	tls.tls = true
	mesh := throughput("mesh-tls-1200", d, "--pairs", "8", "--size", "1200", "--window", "32")
	mesh.tls, mesh.meshed = true, true
	return []scenario{tls, mesh}
}
