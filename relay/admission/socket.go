package admission

import "runtime"

// DefaultSocket is where tailscaled listens by default on this platform
// (the path tailscale's own tools use). Windows' named pipe is not
// supported.
func DefaultSocket() string {
	switch runtime.GOOS {
	case "linux":
		return "/var/run/tailscale/tailscaled.sock"
	case "darwin":
		return "/var/run/tailscaled.socket"
	default:
		return "/var/run/tailscaled.sock"
	}
}
