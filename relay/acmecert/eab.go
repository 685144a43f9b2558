package acmecert

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/acme"
)

// ParseEAB builds an ACME External Account Binding from the key ID and
// HMAC key a CA hands out (Google Trust Services, ZeroSSL). The key is
// accepted in base64url without padding (the ACME form) or standard
// base64 with padding (what gcloud prints), as derper accepts it.
func ParseEAB(kid, b64Key string) (*acme.ExternalAccountBinding, error) {
	if kid == "" {
		return nil, errors.New("empty key ID")
	}
	b64Key = strings.TrimSpace(b64Key)
	key, err := base64.RawURLEncoding.DecodeString(b64Key)
	if err != nil {
		key, err = base64.StdEncoding.DecodeString(b64Key)
	}
	if err != nil {
		return nil, errors.New("not base64 or base64url (copy the HMAC key exactly as the CA shows it)")
	}
	if len(key) == 0 {
		return nil, errors.New("empty HMAC key")
	}
	return &acme.ExternalAccountBinding{KID: kid, Key: key}, nil
}

// requiresEAB asks c's CA directory whether new accounts need External
// Account Binding (RFC 8555 §7.1.1 externalAccountRequired), so that a
// missing binding is reported by the relay rather than as a failed TLS
// handshake when the first client arrives. The client caches the
// directory: the certificate requests that follow do not fetch it again.
func requiresEAB(ctx context.Context, c *acme.Client) (bool, error) {
	dir, err := c.Discover(ctx)
	if err != nil {
		return false, fmt.Errorf("ACME directory %s: %w", c.DirectoryURL, err)
	}
	return dir.ExternalAccountRequired, nil
}
