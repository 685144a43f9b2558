// Package interop holds black-box tests that run one table of DERP, STUN and
// HTTP checks against two real server processes: Tailscale's derper (built
// from the module proxy at the pinned version) and relayctl serve. A case
// that passes against derper describes derper's behaviour, so relayctl
// passing the same case is evidence of compatibility rather than of agreement
// with our own reading of the protocol.
//
// The package has no API; see README.md for how to run it.
package interop
