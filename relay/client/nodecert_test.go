package client

import (
	"crypto/tls"
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"github.com/relayctl/relayctl/internal/certs"
	"github.com/relayctl/relayctl/internal/derpmap"
	"github.com/relayctl/relayctl/internal/testcert"
)

func TestVerifyNodeCertPinned(t *testing.T) {
	leaf := testcert.ValidNow(t, "localhost").Leaf
	other := testcert.ValidNow(t, "").Leaf
	meta := testcert.MetaCert(t, certs.MetaCertPrefix+strings.Repeat("ab", 32))
	pin := certs.CertName(leaf.Raw)
	now := time.Now()
	tests := []struct {
		name       string
		certName   string
		serverName string
		chain      []*x509.Certificate
		at         time.Time
		wantErr    string // "" means accepted
	}{
		{"leaf_only", pin, "", []*x509.Certificate{leaf}, now, ""},
		{"leaf_and_metacert", pin, "", []*x509.Certificate{leaf, meta}, now, ""},
		{"metacert_first", pin, "", []*x509.Certificate{meta, leaf}, now, ""},
		{"server_name_covered", pin, "localhost", []*x509.Certificate{leaf, meta}, now, ""},
		{"server_name_not_covered", pin, "example.com", []*x509.Certificate{leaf}, now, "example.com"},
		{"wrong_pin", certs.CertName(other.Raw), "", []*x509.Certificate{leaf}, now, "CertName pin mismatch"},
		{"upper_case_pin", strings.ToUpper(pin[:len(certs.PinPrefix)]) + strings.ToUpper(pin[len(certs.PinPrefix):]), "", []*x509.Certificate{leaf}, now, "x509:"},
		{"upper_case_hex", certs.PinPrefix + strings.ToUpper(pin[len(certs.PinPrefix):]), "", []*x509.Certificate{leaf}, now, "CertName pin mismatch"},
		{"extra_cert", pin, "", []*x509.Certificate{leaf, other}, now, "presented 2 certificates"},
		{"only_metacert", pin, "", []*x509.Certificate{meta}, now, "presented no certificate"},
		{"expired", pin, "", []*x509.Certificate{leaf}, leaf.NotAfter.Add(time.Second), "expired"},
		{"not_yet_valid", pin, "", []*x509.Certificate{leaf}, leaf.NotBefore.Add(-time.Second), "not valid until"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := VerifyNodeCert(&derpmap.DERPNode{CertName: tt.certName}, tls.ConnectionState{ServerName: tt.serverName, PeerCertificates: tt.chain}, nil, tt.at)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("rejected: %v", err)
			case tt.wantErr != "" && err == nil:
				t.Fatalf("accepted, want an error containing %q", tt.wantErr)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Fatalf("error %q, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}
