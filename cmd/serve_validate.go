package cmd

import (
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/relayctl/relayctl/relay/server"
)

// validateSettings checks serve's resolved settings. Each error quotes the
// setting as its source holds it (--stun-port 99999, relayctl.yaml:
// stun-port: 99999, RELAYCTL_STUN_PORT="99999"), so the operator knows
// which line to fix.
func (o *serveOptions) validateSettings() error {
	if _, port, err := net.SplitHostPort(o.Addr); err != nil {
		return o.badSetting("addr", "%v", err)
	} else if _, err := strconv.ParseUint(port, 10, 16); err != nil && port != "https" && port != "http" {
		return o.badSetting("addr", "bad port %q", port)
	}
	if err := new(slog.LevelVar).UnmarshalText([]byte(o.LogLevel)); err != nil {
		return o.badSetting("log-level", "want debug, info, warn or error")
	}
	if f := strings.ToLower(o.LogFormat); f != "text" && f != "json" && f != "" {
		return o.badSetting("log-format", "want text or json")
	}
	if o.MetricsAddr != "" {
		if _, port, err := net.SplitHostPort(o.MetricsAddr); err != nil {
			return o.badSetting("metrics-addr", "%v", err)
		} else if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			return o.badSetting("metrics-addr", "bad port %q", port)
		}
	}
	if o.STUNPort < 0 || o.STUNPort > 65535 {
		return o.badSetting("stun-port", "want 0 to 65535")
	}
	if o.HTTPPort < -1 || o.HTTPPort > 65535 {
		return o.badSetting("http-port", "want -1 (off) or a port")
	}
	if o.AcceptConnLimit <= 0 || math.IsNaN(o.AcceptConnLimit) {
		return o.badSetting("accept-connection-limit", "want a positive rate")
	}
	if o.AcceptConnBurst < 1 {
		return o.badSetting("accept-connection-burst", "want at least 1")
	}
	if len(o.MeshWith) > 0 && !o.hasMeshKeySource() {
		return usageErrorf("%s needs --mesh-psk-file, which is not set (make a key with: relayctl keygen > mesh.key)", o.spelled("mesh-with"))
	}
	if err := o.validateMeshWith(); err != nil {
		return err
	}
	if o.PerClientRate < 0 {
		return o.badSetting("per-client-rate-limit", "want 0 (off) or bytes per second")
	}
	if o.PerClientBurst < server.MinRateBurst {
		return o.badSetting("per-client-rate-burst", "want at least %d (one largest frame)", server.MinRateBurst)
	}
	if o.MaxConns < 0 {
		return o.badSetting("max-conns", "want 0 (no cap) or a positive number")
	}
	if o.MaxConnsPerIP < 0 {
		return o.badSetting("max-conns-per-ip", "want 0 (no cap) or a positive number")
	}
	if _, err := o.trustedProxies(); err != nil {
		return err
	}
	if o.RegionID < 0 {
		return o.badSetting("region-id", "want a positive region ID (900-999 for self-hosted regions)")
	}
	if o.TCPWriteTimeout < 0 {
		return o.badSetting("tcp-write-timeout", "want 0 (off) or a positive duration")
	}
	if o.KeyFile != "" {
		// relayctl creates its own state directory, never one it was
		// only pointed at: a typo would scatter keys over the disk.
		dir := filepath.Dir(o.KeyFile)
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			return o.badSetting("key-file", "directory %s does not exist (relayctl creates only its own state directory: create it, or leave --key-file out)", dir)
		}
	}
	return nil
}

// validateMeshWith checks every --mesh-with entry as the mesh will dial
// it: an http(s) URL or a host with an optional port, so a typo fails at
// start rather than as "no such host" on every reconnect.
func (o *serveOptions) validateMeshWith() error {
	for _, e := range o.MeshWith {
		if scheme, _, ok := strings.Cut(e, "://"); ok && scheme != "http" && scheme != "https" {
			return o.badSetting("mesh-with", "entry %q: scheme %q: want host, host:port, host/dialaddr or an http(s):// URL", e, scheme)
		}
	}
	peers, err := o.meshPeers()
	if err != nil {
		return o.badSetting("mesh-with", "%v", err)
	}
	for _, p := range peers {
		u, err := url.Parse(p.URL)
		if err != nil || u.Hostname() == "" {
			return o.badSetting("mesh-with", "entry %q: no host name", p.Name)
		}
		if port := u.Port(); port != "" {
			if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
				return o.badSetting("mesh-with", "entry %q: port %s: want 1 to 65535", p.Name, port)
			}
		}
		if p.DialAddr != "" {
			if _, port, err := net.SplitHostPort(p.DialAddr); err == nil {
				if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
					return o.badSetting("mesh-with", "entry %q: dial port %s: want 1 to 65535", p.Name, port)
				}
			}
		}
	}
	return nil
}

// spelled is a setting as its source holds it; see config.Entry.Spelled.
func (o *serveOptions) spelled(name string) string {
	if o.resolved == nil {
		return "--" + name
	}
	return o.resolved.Spelled(name)
}

// badSetting is a usage error about one setting's value.
func (o *serveOptions) badSetting(name, format string, args ...any) error {
	return usageErrorf("%s: %s", o.spelled(name), fmt.Sprintf(format, args...))
}

// logWarnings logs what resolving the settings found wrong but harmless
// (a RELAYCTL_* variable that names no setting).
func (o *serveOptions) logWarnings(logger *slog.Logger) {
	if o.resolved == nil {
		return
	}
	for _, w := range o.resolved.Warnings {
		logger.Warn(w)
	}
}

// printWarnings is logWarnings for the config commands.
func (o *serveOptions) printWarnings() {
	if o.resolved == nil {
		return
	}
	for _, w := range o.resolved.Warnings {
		fmt.Fprintf(o.streams.ErrOut, "warning: %s\n", w)
	}
}
