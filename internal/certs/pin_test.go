package certs

import (
	"strings"
	"testing"

	"github.com/relayctl/relayctl/internal/testcert"
)

func TestCertName(t *testing.T) {
	// SHA-256("abc") from FIPS 180-2.
	const want = "sha256-raw:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
	if got := CertName([]byte("abc")); got != want {
		t.Fatalf("CertName(abc) = %s, want %s", got, want)
	}
}

func TestIsMetaCert(t *testing.T) {
	if !IsMetaCert(testcert.MetaCert(t, MetaCertPrefix+strings.Repeat("ab", 32))) {
		t.Error("metacert not recognised")
	}
	if IsMetaCert(testcert.ValidNow(t, "").Leaf) {
		t.Error("leaf taken for a metacert")
	}
}

func TestValidPin(t *testing.T) {
	good := CertName([]byte("abc"))
	tests := []struct {
		name string
		in   string
		want bool
	}{
		{"certname", good, true},
		{"upper_case", strings.ToUpper(good[:len(PinPrefix)]) + good[len(PinPrefix):], false},
		{"upper_hex", PinPrefix + strings.ToUpper(good[len(PinPrefix):]), false},
		{"short", good[:len(good)-1], false},
		{"long", good + "0", false},
		{"not_hex", good[:len(good)-1] + "g", false},
		{"no_prefix", good[len(PinPrefix):], false},
		{"name", "derp.example.net", false},
		{"empty", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ValidPin(tt.in); got != tt.want {
				t.Errorf("ValidPin(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}
