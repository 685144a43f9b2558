package cmd

import (
	"strings"
	"testing"

	"github.com/relayctl/relayctl/config/configtest"
)

func TestServeAdmissionFlags(t *testing.T) {
	configtest.Isolate(t)
	for _, tc := range []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"defaults", nil, ""},
		{"verify_clients", []string{"--verify-clients", "--socket", "/tmp/ts.sock"}, ""},
		{"webhook", []string{"--verify-client-url", "https://admit.example/verify", "--verify-client-url-fail-open=false"}, ""},
		{"empty_socket", []string{"--verify-clients", "--socket", ""}, "--verify-clients needs --socket"},
		{"allow_unreachable_alone", []string{"--verify-clients-allow-unreachable"}, "only makes sense with --verify-clients"},
		{"webhook_loopback_http", []string{"--verify-client-url", "http://127.0.0.1:8080/verify"}, ""},
		{"webhook_not_http", []string{"--verify-client-url", "ftp://admit.example/"}, "want an https:// URL"},
		{"webhook_no_host", []string{"--verify-client-url", "admit.example"}, "want an https:// URL"},
		{"webhook_plain_http_remote", []string{"--verify-client-url", "http://admit.example/verify?token=s3cret"}, "--verify-client-url http://admit.example/verify?<redacted>: plain http only to this host"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parseServe(t, append([]string{"--certmode", "none", "--addr", "127.0.0.1:0"}, tc.args...)...)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if tc.name == "defaults" && (o.Socket == "" || !o.VerifyClientURLFailOpen || o.VerifyClients) {
					t.Fatalf("defaults: socket %q fail-open %v verify %v", o.Socket, o.VerifyClientURLFailOpen, o.VerifyClients)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || ExitCode(err) != 2 {
				t.Fatalf("got %v (exit %d), want exit 2 and %q", err, ExitCode(err), tc.wantErr)
			}
		})
	}
}
