package main

import (
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/relayctl/relayctl/cmd"
)

// TestMain lets scripts run relayctl as a command: the test binary
// re-executes itself as relayctl.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"relayctl": func() { os.Exit(cmd.Execute(os.Args[1:], cmd.SystemStreams())) },
	})
}

// TestScripts runs testdata/script/*.txtar: the README's quick start and
// the docs' examples, driven as a user would, so the docs cannot drift
// from the code.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			// Keep state and config lookups inside the script's sandbox.
			env.Setenv("XDG_STATE_HOME", env.WorkDir+"/state")
			env.Setenv("XDG_CONFIG_HOME", env.WorkDir+"/config")
			env.Setenv("HOME", env.WorkDir)
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"waithttp":     waitHTTP,
			"httpget":      httpGet,
			"policyserver": policyServer,
		},
	})
}

// waithttp URL: wait (up to 15 s) until URL answers 200.
func waitHTTP(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: waithttp URL")
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(args[0])
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			ts.Fatalf("%s did not answer 200 within 15s (last error: %v)", args[0], err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// httpget URL: print the body to stdout and the status to stderr.
func httpGet(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: httpget URL")
	}
	resp, err := http.Get(args[0])
	if err != nil {
		ts.Fatalf("GET %s: %v", args[0], err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	fmt.Fprintf(ts.Stdout(), "%s", b)
	fmt.Fprintf(ts.Stderr(), "%s\n", resp.Status)
	if (resp.StatusCode >= 400) != neg {
		ts.Fatalf("GET %s: %s", args[0], resp.Status)
	}
}

// policyserver FILE: serve $WORK/FILE over HTTPS (503 while it does not
// exist) until the script ends; sets POLICY_URL to its URL and
// SSL_CERT_FILE to a bundle that trusts it, for the relayctl commands the
// script runs.
func policyServer(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: policyserver FILE")
	}
	file := ts.MkAbs(args[0])
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := os.ReadFile(file)
		if err != nil {
			http.Error(w, "policy server down", http.StatusServiceUnavailable)
			return
		}
		w.Write(b)
	}))
	ts.Defer(srv.Close)
	ca := ts.MkAbs("policy-ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644); err != nil {
		ts.Fatalf("%v", err)
	}
	ts.Setenv("SSL_CERT_FILE", ca)
	ts.Setenv("POLICY_URL", srv.URL+"/"+filepath.Base(file)+"?token=s3cret")
}
