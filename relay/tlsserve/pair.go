package tlsserve

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/relayctl/relayctl/internal/certs"
	"github.com/relayctl/relayctl/internal/keyfile"
)

// certPair is one loaded certificate and key, with what identified the
// files it came from.
type certPair struct {
	cert     *tls.Certificate
	leaf     *x509.Certificate
	certName string // sha256-raw pin of the leaf
	stamp    pairStamp
}

// selfSigned reports whether the leaf signed itself: such a certificate
// is trusted only through a CertName pin. (CheckSignatureFrom would refuse
// a parent that is not a CA.)
func (p *certPair) selfSigned() bool {
	return bytes.Equal(p.leaf.RawIssuer, p.leaf.RawSubject) && p.leaf.CheckSignature(p.leaf.SignatureAlgorithm, p.leaf.RawTBSCertificate, p.leaf.Signature) == nil
}

// pairStamp identifies the contents of the two files without reading
// them: a rename, a rewrite or a touch changes it.
type pairStamp struct{ cert, key fs.FileInfo }

func statPair(certFile, keyFile string) (pairStamp, error) {
	c, err := os.Stat(certFile)
	if err != nil {
		return pairStamp{}, err
	}
	k, err := os.Stat(keyFile)
	if err != nil {
		return pairStamp{}, err
	}
	return pairStamp{cert: c, key: k}, nil
}

func (s pairStamp) equal(o pairStamp) bool {
	return sameFile(s.cert, o.cert) && sameFile(s.key, o.key)
}

func sameFile(a, b fs.FileInfo) bool {
	if a == nil || b == nil {
		return a == b
	}
	return os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}

// loadPair reads and checks a certificate and key for hostname: they must
// parse, match each other, cover hostname, and not have expired.
func loadPair(certFile, keyFile, hostname string, stamp pairStamp, now time.Time) (*certPair, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, err
	}
	// The private key gets the node key's rule: only its owner may read
	// it. Checked before reading, so a key others can read is never used.
	if err := keyfile.CheckPrivate(keyFile); err != nil && !missing(err) {
		return nil, fmt.Errorf("TLS private key: %w", err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%s and %s: %w", certFile, keyFile, err)
	}
	leaf := cert.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, fmt.Errorf("%s: %w", certFile, err)
		}
	}
	if err := leaf.VerifyHostname(hostname); err != nil {
		return nil, fmt.Errorf("%s does not cover --hostname %q: %w", certFile, hostname, err)
	}
	if now.After(leaf.NotAfter) {
		return nil, fmt.Errorf("%s expired at %s", certFile, leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	if len(cert.Certificate) > 1 && bytes.Equal(leaf.RawIssuer, leaf.RawSubject) {
		// Pinning clients refuse a chain of more than one certificate.
		return nil, fmt.Errorf("%s: a self-signed certificate followed by %d more; pinning clients accept only the leaf", certFile, len(cert.Certificate)-1)
	}
	return &certPair{
		cert:     &cert,
		leaf:     leaf,
		certName: certs.CertName(leaf.Raw),
		stamp:    stamp,
	}, nil
}

// missing reports whether err says a file does not exist.
func missing(err error) bool { return errors.Is(err, fs.ErrNotExist) }
