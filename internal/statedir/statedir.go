// Package statedir finds where relayctl keeps its state (node key,
// certificates) and its configuration.
package statedir

import (
	"os"
	"path/filepath"
)

// State is $STATE_DIRECTORY (set by systemd's StateDirectory=), else
// $XDG_STATE_HOME/relayctl, else ~/.local/state/relayctl.
func State() (string, error) {
	if d := os.Getenv("STATE_DIRECTORY"); d != "" {
		// systemd may pass several, colon-separated; the first is ours.
		if i := indexByte(d, ':'); i >= 0 {
			d = d[:i]
		}
		return d, nil
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "relayctl"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(home, ".local", "state", "relayctl"), nil
}

// Config is $XDG_CONFIG_HOME/relayctl, or /etc/relayctl when running as
// root, else ~/.config/relayctl.
func Config() (string, error) {
	if d := os.Getenv("XDG_CONFIG_HOME"); d != "" {
		return filepath.Join(d, "relayctl"), nil
	}
	if os.Geteuid() == 0 {
		return "/etc/relayctl", nil
	}
	d, err := os.UserConfigDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "relayctl"), nil
}

func indexByte(s string, b byte) int {
	for i := range len(s) {
		if s[i] == b {
			return i
		}
	}
	return -1
}
