// Package netcheck answers a client's question about its network, as
// Tailscale's netcheck does: whether UDP works, its public addresses and
// whether its NAT maps by destination, the latency to every region of a
// DERP map (STUN, or ICMP and HTTPS when UDP is blocked) and the region it
// would prefer, whether the default gateway offers port mapping (UPnP,
// NAT-PMP, PCP), and whether a captive portal intercepts HTTP.
package netcheck
