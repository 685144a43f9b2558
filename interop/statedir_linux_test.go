package interop

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"tailscale.com/types/key"
)

// A relay's state and certificate directories can stop taking writes
// under it: the disk fills up, or it is remounted read-only. Every case
// runs on a small tmpfs of its own (so it needs root) in both states.

// diskFault makes dir refuse writes; seed has already put the files the
// relay needs to find there.
type diskFault struct {
	name string
	// want is what the relay's error says about the directory.
	want  string
	apply func(t *testing.T, dir string)
}

var diskFaults = []diskFault{
	{"full", "no space left on device", fillUp},
	{"read_only", "read-only file system", remountReadOnly},
}

// faultyDir mounts a 64 KiB tmpfs (mode 0700, as a key directory must
// be), lets seed write into it, then applies fault.
func faultyDir(t *testing.T, fault diskFault, seed func(dir string)) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=64k,mode=0700"); err != nil {
		t.Skipf("mount tmpfs (needs root): %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	if seed != nil {
		seed(dir)
	}
	fault.apply(t, dir)
	return dir
}

// fillUp writes to dir until the file system is full.
func fillUp(t *testing.T, dir string) {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	block := make([]byte, 4096)
	for {
		if _, err := f.Write(block); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling %s: %v", dir, err)
			}
			return
		}
	}
}

func remountReadOnly(t *testing.T, dir string) {
	t.Helper()
	if err := syscall.Mount("", dir, "", syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
		t.Fatalf("remount %s read-only: %v", dir, err)
	}
}

// writeNodeKey stores a node key in relayctl's key file format.
func writeNodeKey(t *testing.T, path string) {
	t.Helper()
	text, err := key.NewNode().MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, fmt.Appendf(nil, "{\"PrivateKey\": %q}\n", text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestStateDirUnwritable: with its directory full or read-only, a relay
// that has its key serves and says which file it could not write; one
// that would have to write its key first refuses to start and names the
// file; an ACME relay keeps the certificate the CA issued in memory and
// names the file it could not store.
func TestStateDirUnwritable(t *testing.T) {
	if !serverSelected(relayctlServer) {
		t.Skip("relayctl not selected by INTEROP_SERVERS")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs")
	}
	for _, fault := range diskFaults {
		t.Run(fault.name+"/status_file", func(t *testing.T) {
			var keyPath string
			dir := faultyDir(t, fault, func(dir string) {
				keyPath = filepath.Join(dir, "relay-key.json")
				writeNodeKey(t, keyPath)
			})
			s := startServer(t, relayctlServer, "--key-file", keyPath)
			if _, err := s.logs.waitForJSONLine(t.Context(), msgTimeout, "cannot write the running status file", filepath.Join(dir, "running-config.json"), fault.want); err != nil {
				t.Error(err)
			}
			exchange(t, connectPeer(t, s), connectPeer(t, s))
		})

		t.Run(fault.name+"/new_key_file", func(t *testing.T) {
			keyPath := filepath.Join(faultyDir(t, fault, nil), "relay-key.json")
			ctx, cancel := context.WithTimeout(t.Context(), readyTimeout)
			defer cancel()
			cmd := exec.CommandContext(ctx, binaryFor(t, relayctlServer), "serve", "--dev", "--addr", "127.0.0.1:0",
				"--stun-port", "0", "--key-file", keyPath)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 2 {
				t.Fatalf("serve with a key file it cannot create: %v, want exit status 2\n%s", err, out)
			}
			if !strings.Contains(string(out), keyPath) || !strings.Contains(string(out), fault.want) {
				t.Errorf("error does not name %s and %q:\n%s", keyPath, fault.want, out)
			}
		})

		for _, acme := range []struct {
			name  string
			flags []string
			sni   string // the name verified, or
			ip    string // the IP verified
		}{
			{"acme_hostname", []string{"--hostname", "relay.test"}, "relay.test", ""},
			{"acme_ip", []string{"--hostname", "127.0.0.1", "--acme-ip-certs"}, "", "127.0.0.1"},
		} {
			t.Run(fault.name+"/"+acme.name, func(t *testing.T) {
				certDir := faultyDir(t, fault, nil)
				addrPort, _ := freePorts(t)
				httpPort, _ := freePorts(t)
				ca := startPebble(t, httpPort, addrPort)
				relay := startACMERelay(t, ca, addrPort, httpPort, append(acme.flags, "--certdir", certDir)...)
				addr := "127.0.0.1:" + portString(addrPort)
				waitForIssuedCert(t, addr, acme.sni, ca.issuerPool(t), acme.ip)
				relay.waitLog(t, msgTimeout, "cannot store ACME state", certDir, fault.want)
				tlsConfig := &tls.Config{ServerName: acme.sni, RootCAs: ca.issuerPool(t)}
				if acme.ip != "" {
					tlsConfig = &tls.Config{InsecureSkipVerify: true}
				}
				checkDERPOverTLS(t, "https://"+addr+"/derp", tlsConfig)
			})
		}
	}
}
