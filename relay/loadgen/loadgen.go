// Package loadgen drives a DERP relay to measure its capacity: pairs of
// clients relaying packets through it (closed or open loop), round-trip time
// under that load, memory per idle connection and handshake rate. When the
// server's process ID is known, it reads the server's CPU time and memory
// from /proc so that results can be quoted per server CPU-second, which is
// what stays comparable between machines and between servers.
//
// The generator is built to cost less than the server it measures: packets
// are written as pre-built frames, many per system call, receivers read
// through large buffers, and flow control between a sender and its receiver
// travels through shared counters instead of over the relay.
package loadgen

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
)

// Target is the relay under test.
type Target struct {
	// URL is the relay's DERP endpoint: http://host:port[/path] or
	// https://…; the path defaults to /derp.
	URL string
	// TLSConfig is used for https URLs; nil means the system roots.
	TLSConfig *tls.Config
	// ServerPID, when non-zero, names the server's process on this machine
	// so that its CPU time and resident memory can be read from /proc.
	ServerPID int
}

func (t Target) parse() (*url.URL, error) {
	if t.URL == "" {
		return nil, errors.New("no server URL")
	}
	u, err := url.Parse(t.URL)
	if err != nil {
		return nil, fmt.Errorf("server URL %q: %w", t.URL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("server URL %q: scheme must be http or https", t.URL)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("server URL %q: no host", t.URL)
	}
	if u.Path == "" {
		u.Path = "/derp"
	}
	return u, nil
}
