package node

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"

	"golang.org/x/crypto/acme"

	"github.com/relayctl/relayctl/config"
	"github.com/relayctl/relayctl/internal/keyfile"
	"github.com/relayctl/relayctl/internal/statedir"
	"github.com/relayctl/relayctl/relay/acmecert"
	"github.com/relayctl/relayctl/relay/admission"
	"github.com/relayctl/relayctl/relay/mesh"
	"github.com/relayctl/relayctl/relay/web"
)

// ConfigError is a bad setting, or settings that cannot work together:
// bad usage or configuration (the CLI's exit code 2), as opposed to an
// operation that failed (a port in use, a CA that refused).
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

func configErrorf(format string, args ...any) error {
	return &ConfigError{fmt.Errorf(format, args...)}
}

// sources says where each setting came from, for errors that quote a
// setting as its source holds it (--stun-port 99999, relayctl.yaml:
// stun-port: 99999, RELAYCTL_STUN_PORT="99999"), so the operator knows
// which line to fix. A nil resolution (a Config built in code) spells
// settings as flags.
type sources struct{ res *config.Result }

func (s sources) spelled(name string) string {
	if s.res == nil {
		return "--" + name
	}
	return s.res.Spelled(name)
}

func (s sources) bad(name string, err error) error {
	return configErrorf("%s: %v", s.spelled(name), err)
}

// isDefault says whether name still has its default: no source set it
// (without a resolution: its value is the default).
func (s sources) isDefault(name string, c *Config) bool {
	if s.res != nil {
		e, _ := s.res.Lookup(name)
		return e.Source == config.SourceDefault
	}
	d := DefaultConfig()
	decl, _ := lookupSetting(name)
	return reflect.DeepEqual(decl.value(c), decl.value(&d))
}

func (s sources) sourceOf(name string) config.Source {
	if s.res == nil {
		return config.SourceDefault
	}
	e, _ := s.res.Lookup(name)
	return e.Source
}

// complete applies --dev and the host-dependent defaults to c and checks
// every setting, then the combinations.
func complete(c *Config, src sources) error {
	if c.Dev {
		if src.isDefault(nameAddr, c) {
			c.Addr = devAddr
		}
		if src.isDefault(nameCertMode, c) {
			c.CertMode = "none"
		}
	}
	if err := checkSettings(c, src); err != nil {
		return err
	}
	if err := checkKeyFileDir(c); err != nil {
		return src.bad(nameKeyFile, err)
	}
	if err := completeTLS(c, src); err != nil {
		return err
	}
	if len(c.MeshWith) > 0 && !c.hasMeshKeySource() {
		return configErrorf("%s needs --mesh-psk-file, which is not set (make a key with: relayctl keygen > mesh.key)", src.spelled(nameMeshWith))
	}
	if c.VerifyClients && c.Socket == "" {
		return configErrorf("--verify-clients needs --socket (tailscaled's socket, default %s)", admission.DefaultSocket())
	}
	if c.VerifyClientsAllowUnreachable && !c.VerifyClients {
		return configErrorf("--verify-clients-allow-unreachable only makes sense with --verify-clients")
	}
	if (c.ACMEEABKID == "") != (c.ACMEEABKey == "") {
		return configErrorf("--acme-eab-kid and --acme-eab-key go together (the CA gives both)")
	}
	if _, err := c.eab(); err != nil {
		return err
	}
	if c.NodeName == "" {
		c.NodeName, _ = os.Hostname()
	}
	return nil
}

// checkSettings checks each setting's value on its own, by its
// declaration. It looks at values only, never at the host: config show
// and validate check files meant for other machines.
func checkSettings(c *Config, src sources) error {
	for _, s := range settings {
		if s.check == nil {
			continue
		}
		if err := s.check(c); err != nil {
			if s.isSecret {
				// The value is not shown; the check's error shows what
				// of it can be.
				return configErrorf("--%s %v", s.name, err)
			}
			return src.bad(s.name, err)
		}
	}
	return nil
}

// completeTLS checks the certificate settings for the chosen certmode and
// fills in the certificate directory.
func completeTLS(c *Config, src sources) error {
	if c.CertMode == "none" {
		return nil
	}
	if c.Hostname == "" {
		return configErrorf("--hostname is required with %s: the name or IP clients connect to", src.spelled(nameCertMode))
	}
	hostIP, hostErr := netip.ParseAddr(c.Hostname)
	if hostErr == nil {
		if why := UnservableIP(hostIP.Unmap()); why != "" {
			return configErrorf("%s: %s; give the address clients reach the relay on", src.spelled(nameHostname), why)
		}
	}
	if c.CertMode == "letsencrypt" {
		if c.ACMEIPCerts {
			if c.PublicIP != "" {
				if _, err := netip.ParseAddr(c.PublicIP); err != nil {
					return src.bad(namePublicIP, errors.New("not an IP address"))
				}
			} else if hostErr != nil {
				return configErrorf("%s needs an IP --hostname or --public-ip; %s is a name", src.spelled(nameACMEIPCerts), src.spelled(nameHostname))
			}
		} else if hostErr == nil {
			return configErrorf("%s is an IP address: add --acme-ip-certs for an ACME IP certificate, or use --certmode manual (self-signed; see relayctl certgen)", src.spelled(nameHostname))
		}
	} else if c.ACMEIPCerts {
		return configErrorf("%s needs --certmode letsencrypt, not %s", src.spelled(nameACMEIPCerts), src.spelled(nameCertMode))
	}
	if c.CertDir == "" {
		dir, err := statedir.State()
		if err != nil {
			return configErrorf("cannot find a state directory for certificates (set --certdir): %v", err)
		}
		c.CertDir = filepath.Join(dir, "certs")
	}
	// Whoever can write there can swap the certificate and its key.
	if err := keyfile.CheckDir(c.CertDir); err != nil {
		return configErrorf("--certdir: %v", err)
	}
	return nil
}

// UnservableIP says why ip cannot be the address clients dial, or "".
func UnservableIP(ip netip.Addr) string {
	switch {
	case ip.IsUnspecified():
		return "the unspecified address means \"every address\" to a listener, not one clients can dial"
	case ip.IsMulticast():
		return "a multicast address cannot carry a TCP connection"
	case ip == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return "the broadcast address cannot carry a TCP connection"
	}
	return ""
}

// eab is the External Account Binding for the ACME account, nil without.
func (c *Config) eab() (*acme.ExternalAccountBinding, error) {
	if c.ACMEEABKID == "" {
		return nil, nil
	}
	eab, err := acmecert.ParseEAB(c.ACMEEABKID, c.ACMEEABKey)
	if err != nil {
		return nil, configErrorf("--acme-eab-key: %v", err)
	}
	return eab, nil
}

// checkMeshWith checks every --mesh-with entry as the mesh will dial it:
// an http(s) URL or a host with an optional port, so a typo fails at
// start rather than as "no such host" on every reconnect.
func checkMeshWith(c *Config) error {
	for _, e := range c.MeshWith {
		if scheme, _, ok := strings.Cut(e, "://"); ok && scheme != "http" && scheme != "https" {
			return fmt.Errorf("entry %q: scheme %q: want host, host:port, host/dialaddr or an http(s):// URL", e, scheme)
		}
	}
	peers, err := c.meshPeers()
	if err != nil {
		return err
	}
	for _, p := range peers {
		u, err := url.Parse(p.URL)
		if err != nil || u.Hostname() == "" {
			return fmt.Errorf("entry %q: no host name", p.Name)
		}
		if port := u.Port(); port != "" && !validPort(port) {
			return fmt.Errorf("entry %q: port %s: want 1 to 65535", p.Name, port)
		}
		if p.DialAddr != "" {
			if _, port, err := net.SplitHostPort(p.DialAddr); err == nil && !validPort(port) {
				return fmt.Errorf("entry %q: dial port %s: want 1 to 65535", p.Name, port)
			}
		}
	}
	return nil
}

func validPort(s string) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n >= 1 && n <= 65535
}

// meshPeers parses --mesh-with, leaving out this node's own entry.
func (c *Config) meshPeers() ([]mesh.Peer, error) {
	var self []string
	if _, port, err := net.SplitHostPort(c.Addr); err == nil && c.Hostname != "" {
		self = append(self, net.JoinHostPort(c.Hostname, port))
	}
	return mesh.ParsePeers(c.MeshWith, c.Hostname, self...)
}

// trustedProxies parses --trusted-proxy: CIDRs, or single IPs.
func (c *Config) trustedProxies() (web.TrustedProxies, error) {
	var out web.TrustedProxies
	for _, s := range c.TrustedProxies {
		s = strings.TrimSpace(s)
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		ip, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("%q: want a CIDR (10.0.0.0/8) or an IP", s)
		}
		out = append(out, netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen()))
	}
	return out, nil
}

// stunAddr is the STUN listen address: the IP of --addr, --stun-port.
func (c *Config) stunAddr() string {
	host, _, _ := net.SplitHostPort(c.Addr)
	return net.JoinHostPort(host, strconv.Itoa(c.STUNPort))
}

// port80Addr is the plain-HTTP listener of a TLS relay: --http-port on
// the IP of --addr.
func (c *Config) port80Addr() string {
	host, _, _ := net.SplitHostPort(c.Addr)
	return net.JoinHostPort(host, strconv.Itoa(c.HTTPPort))
}
