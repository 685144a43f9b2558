package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
)

// tlsMesh is what TLS and meshed scenarios share: a self-signed
// certificate for 127.0.0.1 that both servers read (--certmode manual in
// both), and a region mesh key.
type tlsMesh struct {
	certDir, certFile, meshKeyFile string
}

// tlsAndMesh makes the certificate and mesh key on first use.
func (h *harness) tlsAndMesh(ctx context.Context) (*tlsMesh, error) {
	if h.tlsMesh != nil {
		return h.tlsMesh, nil
	}
	dir := filepath.Join(h.work, "tls")
	m := &tlsMesh{certDir: dir, certFile: filepath.Join(dir, "127.0.0.1.crt"), meshKeyFile: filepath.Join(h.work, "mesh.key")}
	certgen := exec.CommandContext(ctx, h.bins.relayctl, "certgen", "--ip", "127.0.0.1", "--certdir", dir)
	if out, err := certgen.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("relayctl certgen: %w: %s", err, out)
	}
	key, err := exec.CommandContext(ctx, h.bins.relayctl, "keygen").Output()
	if err != nil {
		return nil, fmt.Errorf("relayctl keygen: %w", err)
	}
	if err := os.WriteFile(m.meshKeyFile, key, 0o600); err != nil {
		return nil, err
	}
	h.tlsMesh = m
	return m, nil
}

// serverArgs are k's flags for setup's TLS and mesh.
func (m *tlsMesh) serverArgs(k serverKind, setup serverSetup) []string {
	var args []string
	switch {
	case setup.tls && k == derper:
		args = append(args, "-hostname", "127.0.0.1", "-certmode", "manual", "-certdir", m.certDir)
	case setup.tls:
		args = append(args, "--hostname", "127.0.0.1", "--certmode", "manual", "--certdir", m.certDir)
	case k == relayctl:
		args = append(args, "--certmode", "none")
	}
	if setup.meshWith == 0 {
		return args
	}
	// Both servers mesh over https, derper always does.
	peer := "127.0.0.1:" + strconv.Itoa(setup.meshWith)
	if k == derper {
		return append(args, "-mesh-psk-file", m.meshKeyFile, "-mesh-with", peer)
	}
	return append(args, "--mesh-psk-file", m.meshKeyFile, "--mesh-with", peer)
}
