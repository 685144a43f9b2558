package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/relayctl/relayctl/internal/serverproc"
)

// serverKind is a relay implementation under test.
type serverKind string

const (
	derper   serverKind = "derper"
	relayctl serverKind = "relayctl"
)

var servers = []serverKind{derper, relayctl}

type harness struct {
	bins               binaries
	work               string
	serverCPU, loadCPU string
	tlsMesh            *tlsMesh // made by the first TLS or meshed scenario
}

// results[server][scenario] holds one bench JSON document per repetition,
// nil where the run failed.
type results map[serverKind]map[string][]map[string]any

// runFailure is one run that gave no figures.
type runFailure struct {
	rep      int // from 1
	scenario string
	server   serverKind
	err      string
}

// runAll runs every scenario reps times on both servers. Within a
// repetition the servers take turns scenario by scenario, and the order
// flips every repetition, so slow drift on the machine hits both alike.
func (h *harness) runAll(ctx context.Context, scenarios []scenario, reps int) (results, []runFailure, error) {
	var failures []runFailure
	res := results{}
	for _, k := range servers {
		res[k] = map[string][]map[string]any{}
	}
	for rep := range reps {
		for _, sc := range scenarios {
			order := []serverKind{derper, relayctl}
			if rep%2 == 1 {
				order = []serverKind{relayctl, derper}
			}
			for _, k := range order {
				if err := ctx.Err(); err != nil {
					return nil, nil, err
				}
				start := time.Now()
				doc, err := h.runOne(ctx, k, sc)
				if err != nil {
					fmt.Fprintf(os.Stderr, "rep %d/%d %-13s %-8s FAILED: %v\n", rep+1, reps, sc.name, k, err)
					failures = append(failures, runFailure{rep: rep + 1, scenario: sc.name, server: k, err: err.Error()})
				} else {
					fmt.Fprintf(os.Stderr, "rep %d/%d %-13s %-8s %s (%.0fs)\n", rep+1, reps, sc.name, k, headline(sc.name, doc), time.Since(start).Seconds())
				}
				res[k][sc.name] = append(res[k][sc.name], doc)
			}
		}
	}
	return res, failures, nil
}

// runOne starts fresh servers (two meshed nodes for a meshed scenario),
// runs one bench against them and stops them.
func (h *harness) runOne(ctx context.Context, k serverKind, sc scenario) (map[string]any, error) {
	nodes := 1
	if sc.meshed {
		nodes = 2
	}
	ports, err := freePorts(nodes)
	if err != nil {
		return nil, err
	}
	var srvs []*runningServer
	defer func() {
		for _, srv := range srvs {
			srv.stop()
		}
	}()
	for i := range nodes {
		setup := serverSetup{port: ports[i], tls: sc.tls}
		if sc.meshed {
			setup.meshWith = ports[1-i]
		}
		srv, err := h.startServer(ctx, k, setup)
		if err != nil {
			return nil, err
		}
		srvs = append(srvs, srv)
	}
	ctx, cancel := context.WithTimeout(ctx, sc.limit)
	defer cancel()
	args := append([]string{"-c", h.loadCPU, h.bins.relayctl, "bench"}, sc.args...)
	args = append(args, "--server", srvs[0].url(), "--server-pid", strconv.Itoa(srvs[0].pid()), "--json")
	if sc.tls {
		args = append(args, "--insecure")
	}
	if sc.meshed {
		args = append(args, "--receiver-server", srvs[1].url(), "--receiver-server-pid", strconv.Itoa(srvs[1].pid()))
	}
	cmd := exec.CommandContext(ctx, "taskset", args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	serverproc.SetDeathSignal(cmd)
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("relayctl %s: %w: %s", strings.Join(sc.args, " "), err, lastLine(stderr.String()))
	}
	for _, srv := range srvs {
		if !srv.alive() {
			return nil, fmt.Errorf("%s exited during the run; log in %s", k, srv.log)
		}
	}
	var doc map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &doc); err != nil {
		return nil, fmt.Errorf("bench output: %w", err)
	}
	return doc, nil
}

type runningServer struct {
	proc *serverproc.Process
	addr string
	tls  bool
	log  string
}

func (s *runningServer) pid() int { return s.proc.OS().Pid }

// url is the server's DERP endpoint.
func (s *runningServer) url() string {
	if s.tls {
		return "https://" + s.addr
	}
	return "http://" + s.addr
}

func (s *runningServer) alive() bool { return s.proc.Alive() }

// stop kills the server: a graceful shutdown would only add its drain time.
func (s *runningServer) stop() { s.proc.Kill() }

// serverSetup is how one server of a run listens.
type serverSetup struct {
	port int
	tls  bool
	// meshWith is the port of the other node of a meshed run, else 0.
	meshWith int
}

// startServer runs k on setup.port, pinned to the server CPU (taskset
// execs the server, so its pid is the server's), and waits until it
// answers /derp/probe.
func (h *harness) startServer(ctx context.Context, k serverKind, setup serverSetup) (*runningServer, error) {
	dir, err := os.MkdirTemp(h.work, string(k)+"-")
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(setup.port))
	var args []string
	switch k {
	case derper:
		args = []string{h.bins.derper, "-a", addr, "-stun=false", "-http-port", "-1", "-c", filepath.Join(dir, "derper.json")}
	case relayctl:
		args = []string{h.bins.relayctl, "serve", "--addr", addr, "--stun=false",
			"--http-port", "-1", "--key-file", filepath.Join(dir, "relay-key.json")}
	}
	env := append(os.Environ(), "XDG_CONFIG_HOME="+dir, "XDG_STATE_HOME="+dir, "HOME="+dir)
	if setup.tls || setup.meshWith != 0 {
		m, err := h.tlsAndMesh(ctx)
		if err != nil {
			return nil, err
		}
		args = append(args, m.serverArgs(k, setup)...)
		// Mesh clients verify their peer against the system roots, which
		// SSL_CERT_FILE replaces: the self-signed certificate.
		env = append(env, "SSL_CERT_FILE="+m.certFile)
	} else if k == relayctl {
		args = append(args, "--certmode", "none")
	}
	logPath := filepath.Join(dir, "server.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd := exec.Command("taskset", append([]string{"-c", h.serverCPU}, args...)...)
	cmd.Dir = dir
	// Keep relayctl from reading a config file or state of this machine's.
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logFile, logFile
	proc, err := serverproc.Start(cmd)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", k, err)
	}
	s := &runningServer{proc: proc, addr: addr, tls: setup.tls, log: logPath}
	if err := s.waitReady(ctx); err != nil {
		s.stop()
		log, _ := os.ReadFile(logPath)
		return nil, fmt.Errorf("%s: %w; log:\n%s", k, err, log)
	}
	return s, nil
}

const readyTimeout = 10 * time.Second

func (s *runningServer) waitReady(ctx context.Context) error {
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, // the self-signed test certificate
	}}
	defer client.CloseIdleConnections()
	return serverproc.WaitReady(ctx, s.proc.Exited(), readyTimeout, serverproc.HTTPOK(client, s.url()+"/derp/probe", ""))
}

// freePorts finds n distinct free loopback ports.
func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		p, err := serverproc.FreeTCPPort()
		if err != nil {
			return nil, err
		}
		ports = append(ports, p)
	}
	return ports, nil
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

func writeResults(path string, r results) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}
