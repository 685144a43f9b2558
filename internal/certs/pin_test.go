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

func TestIsPin(t *testing.T) {
	hex64 := strings.Repeat("0123456789abcdef", 4)
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{PinPrefix + hex64, true},
		{CertName([]byte("abc")), true},
		{PinPrefix + strings.ToUpper(hex64), false},
		{PinPrefix + hex64[:63], false},
		{PinPrefix + hex64 + "0", false},
		{PinPrefix + hex64[:63] + "g", false},
		{hex64, false},
		{"relay.example.com", false},
		{PinPrefix, false},
	} {
		if got := IsPin(tc.in); got != tc.want {
			t.Errorf("IsPin(%q) = %v, want %v", tc.in, got, tc.want)
		}
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
