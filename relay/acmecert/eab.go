package acmecert

import (
	"encoding/base64"
	"errors"
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
