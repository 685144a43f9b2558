// Package serverproc runs a server program for a test or a benchmark (a
// relay, derper, a CA): it starts the program so that it dies with its
// parent, watches for its exit, waits until it is ready, and hands out
// free loopback ports. benchcompare and the interop tests share it.
package serverproc

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"time"
)

// Process is a started program whose exit is watched.
type Process struct {
	cmd    *exec.Cmd
	exited chan struct{}
	err    error // the exit status, once exited is closed
}

// Start starts cmd with the death signal set (see SetDeathSignal) and
// reaps it when it exits.
func Start(cmd *exec.Cmd) (*Process, error) {
	SetDeathSignal(cmd)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &Process{cmd: cmd, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// OS is the running process, to signal it or read its pid.
func (p *Process) OS() *os.Process { return p.cmd.Process }

// Exited closes once the process has exited and been reaped.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// Err is the exit status once Exited is closed; nil before.
func (p *Process) Err() error {
	select {
	case <-p.exited:
		return p.err
	default:
		return nil
	}
}

// Alive reports whether the process is still running.
func (p *Process) Alive() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// Kill ends the process with SIGKILL and waits until it is reaped.
func (p *Process) Kill() {
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// pollInterval is how often WaitReady asks again.
const pollInterval = 20 * time.Millisecond

// WaitReady calls ready until it returns nil, exited closes (the process
// died first), ctx ends or timeout passes; the error then carries ready's
// last complaint.
func WaitReady(ctx context.Context, exited <-chan struct{}, timeout time.Duration, ready func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		err := ready(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("process exited before becoming ready (%v)", err)
		case <-ctx.Done():
			return fmt.Errorf("not ready within %v: %w", timeout, err)
		case <-tick.C:
		}
	}
}

// HTTPOK is a readiness check for WaitReady: GET url answers 200. host,
// when not empty, is sent as the Host header (a name-based TLS relay
// dialled by address).
func HTTPOK(client *http.Client, url, host string) func(context.Context) error {
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if host != "" {
			req.Host = host
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		return nil
	}
}

// ErrNoFreePort is returned when the kernel keeps offering ports this
// process has already handed out.
var ErrNoFreePort = errors.New("no free loopback port not handed out before")
