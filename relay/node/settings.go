package node

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/relayctl/relayctl/internal/logging"
	"github.com/relayctl/relayctl/relay/acmecert"
	"github.com/relayctl/relayctl/relay/admission"
	"github.com/relayctl/relayctl/relay/server"
)

// The names other code refers to: the rest are spelled only in their
// declaration below.
const (
	nameAddr            = "addr"
	nameCertMode        = "certmode"
	nameRegionID        = "region-id"
	nameNodeName        = "node-name"
	nameRateConfig      = "rate-config"
	nameRateLimit       = "per-client-rate-limit"
	nameRateBurst       = "per-client-rate-burst"
	nameVerifyClientURL = "verify-client-url"
	nameKeyFile         = "key-file"
	nameMeshWith        = "mesh-with"
	nameHostname        = "hostname"
	namePublicIP        = "public-ip"
	nameACMEIPCerts     = "acme-ip-certs"
	nameHTTPPort        = "http-port"
	nameSTUNPort        = "stun-port"
	nameMetricsAddr     = "metrics-addr"
	nameDebugAddr       = "debug-addr"
)

const (
	devAddr     = "127.0.0.1:3340"
	devSTUNAddr = "127.0.0.1"
)

// The values of the enumerated settings, with descriptions for shell
// completion.
var (
	certModes  = []string{"letsencrypt\tcertificates from an ACME CA", "manual\tcertificates from --certdir", "none\tplain HTTP"}
	logFormats = []string{"text", "json"}
)

// How a running node applies the live settings.
var (
	liveLogLevel = &liveChange{"applied at once", func(n *Node, c *Config) {
		if err := n.level.UnmarshalText([]byte(c.LogLevel)); err != nil {
			n.logger.Error("log-level not applied", "value", c.LogLevel, "err", err)
		}
	}}
	liveRateLimit = &liveChange{"applied at once to connected clients", func(n *Node, c *Config) {
		n.relay.SetPerClientRateLimit(c.PerClientRate, c.PerClientBurst)
	}}
	liveWebhook = &liveChange{"used for the next client that connects", func(n *Node, c *Config) {
		n.admission.setWebhook(c.VerifyClientURL, c.VerifyClientURLFailOpen)
	}}
)

// settings declares every setting of a node (see setting).
var settings = []setting{
	declare(nameAddr, func(c *Config) *string { return &c.Addr }, ":443", "TCP listen address for DERP (HTTPS, or HTTP with --certmode none)").
		checkedBy(func(c *Config) error { return checkHostPort(c.Addr, "https", "http") }),
	declare(nameHTTPPort, func(c *Config) *int { return &c.HTTPPort }, 80, "plain-HTTP port for ACME challenges and redirects to HTTPS; -1 disables").
		checkedBy(func(c *Config) error { return inRange(c.HTTPPort, -1, 65535, "want -1 (off) or a port") }),
	declare("stun", func(c *Config) *bool { return &c.STUN }, true, "run the STUN server"),
	declare(nameSTUNPort, func(c *Config) *int { return &c.STUNPort }, 3478, "UDP STUN port (on the IP of --addr)").
		checkedBy(func(c *Config) error { return inRange(c.STUNPort, 0, 65535, "want 0 to 65535") }),
	declare(nameHostname, func(c *Config) *string { return &c.Hostname }, "", "the node's public name or IP; required for TLS modes").local(),
	declare(nameCertMode, func(c *Config) *string { return &c.CertMode }, "letsencrypt", "letsencrypt, manual (certs from --certdir) or none (plain HTTP)").
		offering(certModes...).
		checkedBy(func(c *Config) error { return oneOf(c.CertMode, certModes...) }),
	declare("certdir", func(c *Config) *string { return &c.CertDir }, "", "certificate directory (default <state>/certs)"),
	declare(nameKeyFile, func(c *Config) *string { return &c.KeyFile }, "", "the node's private key file, created on first start (default <state>/relay-key.json)").local(),
	declare("mesh-psk-file", func(c *Config) *string { return &c.MeshPSKFile }, "", "file holding the region's mesh key (64 hex characters); without it, derper's TAILSCALE_DERPER_MESH_KEY is read"),
	declare(nameMeshWith, func(c *Config) *[]string { return &c.MeshWith }, nil, "other nodes of this region: host, host:port, host/dialaddr or a URL (this node's own entry is skipped)").
		checkedBy(checkMeshWith),
	declare("dev", func(c *Config) *bool { return &c.Dev }, false, "development mode: plain HTTP on "+devAddr+", STUN on "+devSTUNAddr+":3478, key in a temporary directory").local(),
	declare(nameMetricsAddr, func(c *Config) *string { return &c.MetricsAddr }, "", "a separate listener for Prometheus /metrics, e.g. 127.0.0.1:9090").
		checkedBy(func(c *Config) error {
			if c.MetricsAddr == "" {
				return nil
			}
			return checkHostPort(c.MetricsAddr)
		}),
	declare(nameDebugAddr, func(c *Config) *string { return &c.DebugAddr }, "", "serve /debug/ on this loopback address (e.g. 127.0.0.1:8081) instead of --addr; use it when a TLS terminator in TCP mode on this host makes every client look like loopback on --addr").
		checkedBy(checkDebugAddr),
	declare("tcp-write-timeout", func(c *Config) *time.Duration { return &c.TCPWriteTimeout }, server.DefaultWriteTimeout, "per-write deadline for clients (mesh peers get 30s); 0 disables").
		checkedBy(func(c *Config) error { return offOrPositive(c.TCPWriteTimeout) }),
	declare("tcp-keepalive-time", func(c *Config) *time.Duration { return &c.TCPKeepAlive }, 10*time.Minute, "TCP keepalive period").
		checkedBy(func(c *Config) error { return offOrPositive(c.TCPKeepAlive) }),
	declare("tcp-user-timeout", func(c *Config) *time.Duration { return &c.TCPUserTimeout }, 15*time.Second, "TCP_USER_TIMEOUT: how long unacknowledged data may wait before the connection is dropped").
		checkedBy(func(c *Config) error { return offOrPositive(c.TCPUserTimeout) }),
	declare("bootstrap-dns-names", func(c *Config) *[]string { return &c.BootstrapDNSNames }, nil, "names answered by /bootstrap-dns"),
	declare("home", func(c *Config) *string { return &c.Home }, "", `home page: empty for the built-in page, "blank", or a URL to redirect to`),
	declare("accept-connection-limit", func(c *Config) *float64 { return &c.AcceptConnLimit }, math.Inf(1), "new connections accepted per second; extra ones are closed and accepting goes on").
		checkedBy(func(c *Config) error {
			if c.AcceptConnLimit <= 0 || math.IsNaN(c.AcceptConnLimit) {
				return errors.New("want a positive rate")
			}
			return nil
		}),
	declare("accept-connection-burst", func(c *Config) *int { return &c.AcceptConnBurst }, math.MaxInt, "burst for --accept-connection-limit").
		checkedBy(func(c *Config) error { return inRange(c.AcceptConnBurst, 1, math.MaxInt, "want at least 1") }),
	declare("acme-directory-url", func(c *Config) *string { return &c.ACMEDirectoryURL }, acmecert.LetsEncryptURL, "ACME directory of the CA for --certmode letsencrypt (any RFC 8555 CA: ZeroSSL, step-ca, a private CA)"),
	declare("acme-email", func(c *Config) *string { return &c.ACMEEmail }, "", "contact address for the ACME account"),
	declare(nameACMEIPCerts, func(c *Config) *bool { return &c.ACMEIPCerts }, false, "get ACME certificates for an IP --hostname (RFC 8738), e.g. Let's Encrypt's short-lived IP certificates"),
	declare(namePublicIP, func(c *Config) *string { return &c.PublicIP }, "", "with --acme-ip-certs: the public IP to certify when it differs from --hostname's (behind NAT)"),
	declare(nameRateLimit, func(c *Config) *int64 { return &c.PerClientRate }, 0, "bytes per second each client may send (mesh peers exempt); 0 = no limit. Over it the relay reads more slowly; nothing is dropped").
		appliedBy(liveRateLimit).
		checkedBy(func(c *Config) error {
			return inRange(c.PerClientRate, 0, math.MaxInt64, "want 0 (off) or bytes per second")
		}),
	declare(nameRateBurst, func(c *Config) *int { return &c.PerClientBurst }, server.MinRateBurst, "burst for --per-client-rate-limit, in bytes (at least one largest frame, 65568)").
		appliedBy(liveRateLimit).
		checkedBy(func(c *Config) error {
			return inRange(c.PerClientBurst, server.MinRateBurst, math.MaxInt, fmt.Sprintf("want at least %d (one largest frame)", server.MinRateBurst))
		}),
	declare("max-conns", func(c *Config) *int { return &c.MaxConns }, 0, "cap on concurrent connections; over it new connections are closed and accepting goes on (0 = no cap)").
		checkedBy(func(c *Config) error {
			return inRange(c.MaxConns, 0, math.MaxInt, "want 0 (no cap) or a positive number")
		}),
	declare("max-conns-per-ip", func(c *Config) *int { return &c.MaxConnsPerIP }, 0, "cap on concurrent connections from one IP (trusted proxies exempt; 0 = no cap)").
		checkedBy(func(c *Config) error {
			return inRange(c.MaxConnsPerIP, 0, math.MaxInt, "want 0 (no cap) or a positive number")
		}),
	declare("trusted-proxy", func(c *Config) *[]string { return &c.TrustedProxies }, nil, "CIDRs or IPs of reverse proxies whose X-Forwarded-For / X-Real-IP name the client").
		checkedBy(func(c *Config) error { _, err := c.trustedProxies(); return err }),
	declare(nameRegionID, func(c *Config) *int { return &c.RegionID }, 0, "this node's DERP region ID (metrics labels, fleet policy scope)").local().
		checkedBy(func(c *Config) error {
			return inRange(c.RegionID, 0, math.MaxInt, "want a positive region ID (900-999 for self-hosted regions)")
		}),
	declare(nameNodeName, func(c *Config) *string { return &c.NodeName }, "", "this node's name in the DERP map (default: the host name)").local(),
	declare("drain-timeout", func(c *Config) *time.Duration { return &c.DrainTimeout }, 5*time.Second, "on SIGTERM/SIGINT, how long clients get to receive the Restarting notice and queued packets").
		checkedBy(func(c *Config) error { return offOrPositive(c.DrainTimeout) }),
	declare("log-format", func(c *Config) *string { return &c.LogFormat }, "text", "log format: text or json").
		offering(logFormats...).
		checkedBy(func(c *Config) error {
			if c.LogFormat == "" {
				return nil
			}
			return oneOf(strings.ToLower(c.LogFormat), logFormats...)
		}),
	declare("log-level", func(c *Config) *string { return &c.LogLevel }, "info", "log level: debug, info, warn or error").
		offering("debug", "info", "warn", "error").
		appliedBy(liveLogLevel).
		checkedBy(func(c *Config) error {
			if new(slog.LevelVar).UnmarshalText([]byte(c.LogLevel)) != nil {
				return errors.New("want debug, info, warn or error")
			}
			return nil
		}),

	declare("verify-clients", func(c *Config) *bool { return &c.VerifyClients }, false, "admit only node keys the local tailscaled knows (its own and its peers'), asked over --socket"),
	declare("socket", func(c *Config) *string { return &c.Socket }, admission.DefaultSocket(), "tailscaled's LocalAPI socket, for --verify-clients"),
	declare("verify-clients-allow-unreachable", func(c *Config) *bool { return &c.VerifyClientsAllowUnreachable }, false, "with --verify-clients, start even when tailscaled does not answer yet (clients are rejected until it does)"),
	declare(nameVerifyClientURL, func(c *Config) *string { return &c.VerifyClientURL }, "", "admission webhook asked about each connecting client: an https:// URL (plain http only to localhost); never via HTTP(S)_PROXY. A URL with a token belongs in the config file or RELAYCTL_VERIFY_CLIENT_URL, not on the command line").
		secret().appliedBy(liveWebhook).checkedBy(checkWebhookURL),
	declare("verify-client-url-fail-open", func(c *Config) *bool { return &c.VerifyClientURLFailOpen }, true, "admit clients when the webhook is confirmed down (connection refused or its name does not resolve, 3 times in a row); a slow or busy webhook, a non-200 reply or bad JSON always rejects").
		appliedBy(liveWebhook),

	declare("derp", func(c *Config) *bool { return &c.DERP }, true, "relay DERP; false serves only STUN, /bootstrap-dns and the probe endpoints (decommissioning a node)"),
	declare("unpublished-bootstrap-dns-names", func(c *Config) *[]string { return &c.UnpublishedBootstrapDNSNames }, nil,
		"names /bootstrap-dns answers only when asked for by name; name/record answers the share of clients (0-100) in the DNS TXT record"),
	declare(nameRateConfig, func(c *Config) *string { return &c.RateConfig }, "", "derper rate-config JSON file (PerClientRateLimitBytesPerSec, PerClientRateBurstBytes) setting the per-client rate limit; re-read on change and SIGHUP"),
	declare("acme-eab-kid", func(c *Config) *string { return &c.ACMEEABKID }, "", "ACME External Account Binding key ID (Google Trust Services, ZeroSSL)"),
	declare("acme-eab-key", func(c *Config) *string { return &c.ACMEEABKey }, "", "ACME External Account Binding HMAC key, base64 or base64url as the CA gives it").secret(),
}

// checkHostPort checks a host:port listen address; names are port names
// accepted besides numbers.
func checkHostPort(addr string, names ...string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil && !slices.Contains(names, port) {
		return fmt.Errorf("bad port %q", port)
	}
	return nil
}

func inRange[T int | int64](v, lo, hi T, want string) error {
	if v < lo || v > hi {
		return errors.New(want)
	}
	return nil
}

// oneOf checks v against choices (their descriptions aside).
func oneOf(v string, choices ...string) error {
	var values []string
	for _, c := range choices {
		value, _, _ := strings.Cut(c, "\t")
		if v == value {
			return nil
		}
		values = append(values, value)
	}
	return fmt.Errorf("want %s or %s", strings.Join(values[:len(values)-1], ", "), values[len(values)-1])
}

// offOrPositive is the rule for durations that can be off: 0 is off.
func offOrPositive(d time.Duration) error {
	if d < 0 {
		return errors.New("want 0 (off) or a positive duration")
	}
	return nil
}

// checkKeyFileDir is a check of the host, not of the value (config show
// runs elsewhere): relayctl creates its own state directory, never one it
// was only pointed at, since a typo would scatter keys over the disk.
func checkKeyFileDir(c *Config) error {
	if c.KeyFile == "" {
		return nil
	}
	dir := filepath.Dir(c.KeyFile)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return fmt.Errorf("directory %s does not exist (relayctl creates only its own state directory: create it, or leave --key-file out)", dir)
	}
	return nil
}

// checkDebugAddr: /debug/ answers loopback clients only, so its own
// listener must be on loopback.
func checkDebugAddr(c *Config) error {
	if c.DebugAddr == "" {
		return nil
	}
	host, _, err := net.SplitHostPort(c.DebugAddr)
	if ip, perr := netip.ParseAddr(host); err != nil || (host != "localhost" && (perr != nil || !ip.IsLoopback())) {
		return errors.New("want a loopback address such as 127.0.0.1:8081 (/debug/ answers loopback clients only)")
	}
	return nil
}

func checkWebhookURL(c *Config) error {
	if c.VerifyClientURL == "" {
		return nil
	}
	u, err := url.Parse(c.VerifyClientURL)
	if err != nil {
		return fmt.Errorf("%s: not a URL", logging.RedactURL(c.VerifyClientURL))
	}
	return admission.CheckWebhookURL(u)
}
