package derpmap

import (
	"encoding/pem"
	"fmt"
	"net/netip"
	"os"
	"strings"

	"github.com/relayctl/relayctl/internal/certs"
)

// PinPrefix starts a CertName that pins the leaf certificate.
const PinPrefix = certs.PinPrefix

// PinOfFile is the sha256-raw pin of the first certificate in a PEM file.
func PinOfFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			return "", fmt.Errorf("%s: no PEM CERTIFICATE block", path)
		}
		if block.Type == "CERTIFICATE" {
			return certs.CertName(block.Bytes), nil
		}
	}
}

// parseAddr parses an IP address without a zone, unmapping ::ffff:a.b.c.d.
func parseAddr(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, err
	}
	if a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("%q has a zone", s)
	}
	return a.Unmap(), nil
}

// isAddr reports whether s is an address of the family.
func isAddr(s string, want6 bool) bool {
	a, err := parseAddr(s)
	return err == nil && a.Is6() == want6
}

// validHostName accepts an IP address or dot-separated DNS labels of
// letters, digits, hyphens and underscores: what a DERP node's HostName,
// which goes into URLs, SNI and Host headers, may be.
func validHostName(s string) bool {
	if _, err := parseAddr(s); err == nil {
		return true
	}
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			ok := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_'
			if !ok {
				return false
			}
		}
	}
	return true
}
