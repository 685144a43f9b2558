package cmd

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/relayctl/relayctl/config/configtest"
	"github.com/relayctl/relayctl/relay/node"
)

// parseServe runs `relayctl serve args…` up to option completion and
// returns the options run would get, or the error.
func parseServe(t *testing.T, args ...string) (node.Config, error) {
	t.Helper()
	var got node.Config
	var stderr bytes.Buffer
	streams := IOStreams{In: strings.NewReader(""), Out: &bytes.Buffer{}, ErrOut: &stderr}
	c := newServeCmd(streams, func(n *node.Node) error { got = n.Config(); return nil })
	err := executeParsed(c, streams, args...)
	return got, err
}

func TestServeOptions(t *testing.T) {
	for _, tc := range []struct {
		name  string
		args  []string
		check func(t *testing.T, o node.Config)
	}{
		{"dev_defaults", []string{"--dev"}, func(t *testing.T, o node.Config) {
			if o.Addr != "127.0.0.1:3340" || o.CertMode != "none" || o.STUNPort != 3478 {
				t.Errorf("addr %q certmode %q stun port %d", o.Addr, o.CertMode, o.STUNPort)
			}
		}},
		{"dev_keeps_explicit_addr", []string{"--dev", "--addr", "127.0.0.1:9999"}, func(t *testing.T, o node.Config) {
			if o.Addr != "127.0.0.1:9999" {
				t.Errorf("addr %q", o.Addr)
			}
		}},
		{"plain", []string{"--certmode", "none", "--addr", "[::1]:8080", "--stun-port", "4000", "--tcp-write-timeout", "0"}, func(t *testing.T, o node.Config) {
			if o.Addr != "[::1]:8080" || o.STUNPort != 4000 || o.TCPWriteTimeout != 0 {
				t.Errorf("addr %q stun port %d write timeout %v", o.Addr, o.STUNPort, o.TCPWriteTimeout)
			}
		}},
		{"limits", []string{"--certmode", "none", "--per-client-rate-limit", "100000", "--max-conns-per-ip", "4", "--trusted-proxy", "10.0.0.0/8,192.0.2.1"}, func(t *testing.T, o node.Config) {
			if strings.Join(o.TrustedProxies, " ") != "10.0.0.0/8 192.0.2.1" || o.PerClientBurst != 65568 || o.PerClientRate != 100000 || o.MaxConnsPerIP != 4 {
				t.Errorf("trusted %q burst %d rate %d per IP %d", o.TrustedProxies, o.PerClientBurst, o.PerClientRate, o.MaxConnsPerIP)
			}
		}},
		{"bootstrap_names_list", []string{"--certmode", "none", "--bootstrap-dns-names", "a.example,b.example"}, func(t *testing.T, o node.Config) {
			if strings.Join(o.BootstrapDNSNames, " ") != "a.example b.example" {
				t.Errorf("names %q", o.BootstrapDNSNames)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			configtest.Isolate(t)
			o, err := parseServe(t, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, o)
		})
	}
}

func TestServeBadUsageExitsTwo(t *testing.T) {
	for _, tc := range []struct {
		name, wantInErr string
		args            []string
	}{
		{"bad_certmode", "--certmode", []string{"--certmode", "bogus"}},
		{"bad_addr", "--addr", []string{"--certmode", "none", "--addr", "nope"}},
		{"bad_stun_port", "--stun-port", []string{"--certmode", "none", "--stun-port", "70000"}},
		{"bad_accept_limit", "--accept-connection-limit", []string{"--certmode", "none", "--accept-connection-limit", "-1"}},
		{"bad_duration", "tcp-write-timeout", []string{"--tcp-write-timeout", "soon"}},
		{"unknown_flag", "unknown flag", []string{"--no-such-flag"}},
		{"bad_trusted_proxy", "--trusted-proxy", []string{"--certmode", "none", "--trusted-proxy", "10.0.0.0/33"}},
		{"small_rate_burst", "--per-client-rate-burst", []string{"--certmode", "none", "--per-client-rate-burst", "1000"}},
		{"negative_rate", "--per-client-rate-limit", []string{"--certmode", "none", "--per-client-rate-limit", "-5"}},
		{"negative_max_conns", "--max-conns", []string{"--certmode", "none", "--max-conns", "-1"}},
		{"mesh_without_key", "--mesh-psk-file", []string{"--certmode", "none", "--mesh-with", "derp2.example.com"}},
		{"bad_mesh_peer", "--mesh-with", []string{"--certmode", "none", "--mesh-with", "https://", "--mesh-psk-file", "x"}},
		{"tls_without_hostname", "--hostname", []string{"--certmode", "manual"}},
		{"ip_hostname_letsencrypt", "--acme-ip-certs", []string{"--hostname", "203.0.113.7"}},
		{"debug_addr_not_loopback", "--debug-addr", []string{"--certmode", "none", "--debug-addr", "0.0.0.0:8081"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			configtest.Isolate(t)
			wantUsageError(t, tc.wantInErr, append([]string{"serve"}, tc.args...)...)
		})
	}
}

// TestServeSettingSources: flags > environment > config file > defaults.
func TestServeSettingSources(t *testing.T) {
	dir := configtest.Isolate(t)
	cfg := filepath.Join(dir, "relay.yaml")
	os.WriteFile(cfg, []byte("certmode: none\nstun-port: 4001\ntcp-write-timeout: 5s\nhome: blank\nbootstrap-dns-names: [x.example, y.example]\n"), 0o600)
	t.Setenv("RELAYCTL_STUN_PORT", "4002")
	t.Setenv("RELAYCTL_TCP_WRITE_TIMEOUT", "7s")
	o, err := parseServe(t, "--config", cfg, "--tcp-write-timeout", "9s")
	if err != nil {
		t.Fatal(err)
	}
	if o.CertMode != "none" || o.Home != "blank" {
		t.Errorf("from file: certmode %q home %q", o.CertMode, o.Home)
	}
	if o.STUNPort != 4002 {
		t.Errorf("env should beat file: stun-port %d", o.STUNPort)
	}
	if o.TCPWriteTimeout != 9*time.Second {
		t.Errorf("flag should beat env: tcp-write-timeout %v", o.TCPWriteTimeout)
	}
	if strings.Join(o.BootstrapDNSNames, ",") != "x.example,y.example" {
		t.Errorf("list from file: %q", o.BootstrapDNSNames)
	}
}

func TestServeConfigErrors(t *testing.T) {
	dir := configtest.Isolate(t)
	for _, tc := range []struct{ name, body, want string }{
		{"unknown_key", "certmode: none\nno-such-setting: 1\n", `unknown setting "no-such-setting"`},
		{"bad_value", "certmode: none\nstun-port: lots\n", "stun-port"},
		{"bad_yaml", "certmode: [none\n", "relay.yaml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := filepath.Join(dir, "relay.yaml")
			os.WriteFile(cfg, []byte(tc.body), 0o600)
			_, err := parseServe(t, "--config", cfg)
			if err == nil || ExitCode(err) != 2 || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v (exit %d), want exit 2 mentioning %q", err, ExitCode(err), tc.want)
			}
		})
	}
	t.Run("missing_explicit_file", func(t *testing.T) {
		_, err := parseServe(t, "--config", filepath.Join(dir, "absent.yaml"))
		if ExitCode(err) != 2 {
			t.Fatalf("err %v, want a usage error", err)
		}
	})
	t.Run("missing_default_file_is_fine", func(t *testing.T) {
		if _, err := parseServe(t, "--certmode", "none"); err != nil {
			t.Fatal(err)
		}
	})
}

// TestServeRefusesWritableCertDir: a certificate directory others can
// write to is refused (they could swap the certificate and its key).
func TestServeRefusesWritableCertDir(t *testing.T) {
	dir := filepath.Join(configtest.Isolate(t), "certs")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	_, err := parseServe(t, "--certmode", "manual", "--hostname", "relay.example", "--certdir", dir)
	if err == nil || ExitCode(err) != 2 || !strings.Contains(err.Error(), "--certdir: directory "+dir+" has mode 0777") {
		t.Fatalf("got %v (exit %d), want exit 2 naming the directory", err, ExitCode(err))
	}
}
