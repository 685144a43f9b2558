// Package prober checks the relays of a DERP map as an operator's fleet
// prober: Plan turns the map into probes of every node (STUN over IPv4
// and IPv6, TLS and certificate expiry, DERP delivery on a node and
// across the nodes of a mesh region, optional bandwidth), and RunAll runs
// them with bounded parallelism and a time limit each, into Results and a
// Report. It sends the region's mesh key only to the nodes of the regions
// it is told share it. Continuous probing with history and metrics is
// package monitor; a client's view of the network is package netcheck.
package prober
