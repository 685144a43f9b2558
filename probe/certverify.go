package probe

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// certPinPrefix marks a CertName that pins the leaf certificate by the
// SHA-256 of its DER encoding.
const certPinPrefix = "sha256-raw:"

// metacertPrefix starts the common name of derper's "derpkey" metacert,
// which carries the server key for fast start and is not part of the
// chain clients verify.
const metacertPrefix = "derpkey"

// nodeTLSConfig is the client TLS configuration a Tailscale client would
// use for node: SNI is HostName (none for an IP literal), and the server's
// certificate is checked as verifyNodeCert does. roots nil means the
// system roots (which honour SSL_CERT_FILE and SSL_CERT_DIR).
func nodeTLSConfig(n *DERPNode, roots *x509.CertPool, now func() time.Time) *tls.Config {
	cfg := &tls.Config{
		NextProtos: []string{"http/1.1"},
		// Verification is done in VerifyConnection so that sha256-raw pins
		// and CertName fronting follow Tailscale's rules.
		InsecureSkipVerify: true,
	}
	if !isIP(n.HostName) {
		cfg.ServerName = n.HostName
	}
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		return verifyNodeCert(n, cs, roots, now())
	}
	return cfg
}

// verifyNodeCert applies a client's checks (spec §6.4) to the certificates
// a node presented:
//   - InsecureForTests: nothing is checked;
//   - "sha256-raw:<hex>": ignoring derpkey metacerts, exactly one
//     certificate whose SHA-256 is <hex> (compared exactly), valid now, and
//     valid for the SNI name when one was sent;
//   - another CertName: the chain, verified for that name;
//   - empty: the chain, verified for HostName.
func verifyNodeCert(n *DERPNode, cs tls.ConnectionState, roots *x509.CertPool, now time.Time) error {
	if n.InsecureForTests {
		return nil
	}
	certs := withoutMetacerts(cs.PeerCertificates)
	if len(certs) == 0 {
		return errors.New("server presented no certificate")
	}
	if pin, ok := strings.CutPrefix(n.CertName, certPinPrefix); ok {
		return verifyPinned(certs, pin, cs.ServerName, now)
	}
	name := n.HostName
	if n.CertName != "" {
		name = n.CertName
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	_, err := certs[0].Verify(x509.VerifyOptions{
		DNSName:       name,
		Roots:         roots,
		Intermediates: inter,
		CurrentTime:   now,
	})
	if err != nil {
		return describeVerifyError(certs[0], err, now)
	}
	return nil
}

func verifyPinned(certs []*x509.Certificate, pin, serverName string, now time.Time) error {
	if len(certs) != 1 {
		return fmt.Errorf("CertName pin: server presented %d certificates, a pinned node must present exactly one (no intermediates)", len(certs))
	}
	leaf := certs[0]
	sum := sha256.Sum256(leaf.Raw)
	if got := hex.EncodeToString(sum[:]); got != pin {
		return fmt.Errorf("CertName pin mismatch: certificate is %s%s, map pins %s%s", certPinPrefix, got, certPinPrefix, pin)
	}
	if serverName != "" {
		if err := leaf.VerifyHostname(serverName); err != nil {
			return fmt.Errorf("pinned certificate: %w", err)
		}
	}
	return checkValidity(leaf, now)
}

func checkValidity(c *x509.Certificate, now time.Time) error {
	switch {
	case now.After(c.NotAfter):
		return fmt.Errorf("certificate expired %s (%s ago)", c.NotAfter.UTC().Format(time.RFC3339), roundAge(now.Sub(c.NotAfter)))
	case now.Before(c.NotBefore):
		return fmt.Errorf("certificate not valid until %s", c.NotBefore.UTC().Format(time.RFC3339))
	}
	return nil
}

// describeVerifyError names expiry plainly; x509's own wording for it is
// long and mentions the current time rather than the expiry date.
func describeVerifyError(leaf *x509.Certificate, err error, now time.Time) error {
	var inv x509.CertificateInvalidError
	if errors.As(err, &inv) && inv.Reason == x509.Expired {
		if verr := checkValidity(inv.Cert, now); verr != nil {
			if inv.Cert != leaf {
				return fmt.Errorf("chain certificate %q: %w", inv.Cert.Subject.CommonName, verr)
			}
			return verr
		}
	}
	return err
}

func withoutMetacerts(certs []*x509.Certificate) []*x509.Certificate {
	out := make([]*x509.Certificate, 0, len(certs))
	for _, c := range certs {
		if !strings.HasPrefix(c.Subject.CommonName, metacertPrefix) {
			out = append(out, c)
		}
	}
	return out
}

// roundAge rounds a duration for humans: days past two days, else hours,
// else minutes.
func roundAge(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%dd", int(d/(24*time.Hour)))
	case d >= time.Hour:
		return d.Round(time.Hour).String()
	}
	return d.Round(time.Minute).String()
}
