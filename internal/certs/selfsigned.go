// Package certs makes and checks the certificates of self-hosted relays:
// self-signed certificates for relays on bare IPs, the "sha256-raw:" pins
// that Tailscale clients use to trust them, and the file names derper and
// relayctl read them from.
package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"time"
)

// DefaultValidity is how long certgen and serve's generated certificates
// last. A pinned certificate's expiry breaks every client until the new pin
// reaches the DERP map, so it is two years rather than derper's one: the
// renewal is a planned change, not a yearly surprise. docs/certificates.md
// gives the reasoning.
const DefaultValidity = 2 * 365 * 24 * time.Hour

// clockSkew is how far NotBefore is backdated: pinning clients check it,
// and a client whose clock runs a little slow must not refuse a certificate
// generated a moment ago.
const clockSkew = time.Hour

// SelfSigned makes an ECDSA P-256 key and a self-signed server certificate
// valid for ip and, when hostname is not empty, for that DNS name too. The
// certificate is not a CA (a pinned leaf needs no chain) and is valid from
// one hour ago for validFor. The key is PKCS #8 PEM.
func SelfSigned(ip netip.Addr, hostname string, validFor time.Duration) (certPEM, keyPEM []byte, err error) {
	if !ip.IsValid() {
		return nil, nil, errors.New("self-signed certificate: no IP address")
	}
	if validFor <= 0 {
		return nil, nil, fmt.Errorf("self-signed certificate: validity %v is not positive", validFor)
	}
	if hostname != "" {
		if _, err := netip.ParseAddr(hostname); err == nil {
			return nil, nil, fmt.Errorf("self-signed certificate: host name %q is an IP address; pass it as the IP", hostname)
		}
	}
	ip = ip.Unmap()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("self-signed certificate: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, nil, fmt.Errorf("self-signed certificate: %w", err)
	}
	cn := ip.String()
	var dnsNames []string
	if hostname != "" {
		cn, dnsNames = hostname, []string{hostname}
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(validFor),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  false,
		IPAddresses:           []net.IP{ip.AsSlice()},
		DNSNames:              dnsNames,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		return nil, nil, fmt.Errorf("self-signed certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, nil, fmt.Errorf("self-signed certificate: %w", err)
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	return certPEM, keyPEM, nil
}
