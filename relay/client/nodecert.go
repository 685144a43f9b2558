package client

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/relayctl/relayctl/internal/certs"
	"github.com/relayctl/relayctl/internal/derpmap"
)

// VerifyNodeCert applies a client's checks (spec §6.4) to the certificates
// a node presented:
//   - InsecureForTests: nothing is checked;
//   - "sha256-raw:<hex>": ignoring derpkey metacerts, exactly one
//     certificate whose SHA-256 is <hex> (compared exactly), valid now, and
//     valid for the SNI name when one was sent;
//   - another CertName: the chain, verified for that name;
//   - empty: the chain, verified for HostName.
func VerifyNodeCert(n *derpmap.DERPNode, cs tls.ConnectionState, roots *x509.CertPool, now time.Time) error {
	if n.InsecureForTests {
		return nil
	}
	chain := WithoutMetaCerts(cs.PeerCertificates)
	if len(chain) == 0 {
		return errors.New("server presented no certificate")
	}
	if pin, ok := strings.CutPrefix(n.CertName, certs.PinPrefix); ok {
		return verifyPinned(chain, pin, cs.ServerName, now)
	}
	name := n.HostName
	if n.CertName != "" {
		name = n.CertName
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	_, err := chain[0].Verify(x509.VerifyOptions{
		DNSName:       name,
		Roots:         roots,
		Intermediates: inter,
		CurrentTime:   now,
	})
	if err != nil {
		return describeVerifyError(chain[0], err, now)
	}
	return nil
}

func verifyPinned(chain []*x509.Certificate, pin, serverName string, now time.Time) error {
	if len(chain) != 1 {
		return fmt.Errorf("CertName pin: server presented %d certificates, a pinned node must present exactly one (no intermediates)", len(chain))
	}
	leaf := chain[0]
	sum := sha256.Sum256(leaf.Raw)
	if got := hex.EncodeToString(sum[:]); got != pin {
		return fmt.Errorf("CertName pin mismatch: certificate is %s%s, map pins %s%s", certs.PinPrefix, got, certs.PinPrefix, pin)
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
		return fmt.Errorf("certificate expired %s (%s ago)", c.NotAfter.UTC().Format(time.RFC3339), now.Sub(c.NotAfter).Round(time.Minute))
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

// WithoutMetaCerts drops derpkey metacerts from a presented chain.
func WithoutMetaCerts(chain []*x509.Certificate) []*x509.Certificate {
	out := make([]*x509.Certificate, 0, len(chain))
	for _, c := range chain {
		if !strings.HasPrefix(c.Subject.CommonName, certs.MetaCertPrefix) {
			out = append(out, c)
		}
	}
	return out
}
