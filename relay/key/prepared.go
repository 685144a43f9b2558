package key

import (
	"crypto/ecdh"
	"fmt"

	"golang.org/x/crypto/salsa20/salsa"
)

// PreparedKey is a private key made ready for many key exchanges: a relay
// exchanges keys with every connecting client. Preparing it once saves the
// derivation of the public key that each fresh X25519 key exchange would
// otherwise repeat, leaving one scalar multiplication per client.
type PreparedKey struct {
	priv *ecdh.PrivateKey
}

// Prepare readies p for Shared.
func (p NodePrivate) Prepare() (*PreparedKey, error) {
	k, err := ecdh.X25519().NewPrivateKey(p.k[:])
	if err != nil {
		return nil, fmt.Errorf("key: prepare private key: %w", err)
	}
	return &PreparedKey{priv: k}, nil
}

// Shared computes the nacl box key with pub, equal to what
// NodePrivate.Shared (box.Precompute) gives. A public key of low order,
// which leaves no secret to share, is an error.
func (pk *PreparedKey) Shared(pub NodePublic) (SharedKey, error) {
	peer, err := ecdh.X25519().NewPublicKey(pub.k[:])
	if err != nil {
		return SharedKey{}, fmt.Errorf("key exchange with %s: %w", pub.ShortString(), err)
	}
	point, err := pk.priv.ECDH(peer)
	if err != nil {
		return SharedKey{}, fmt.Errorf("key exchange with %s: %w", pub.ShortString(), err)
	}
	// nacl box derives its key from the X25519 point with HSalsa20 and a
	// zero nonce.
	var s SharedKey
	var in [16]byte
	salsa.HSalsa20(&s.k, &in, (*[32]byte)(point), &salsa.Sigma)
	return s, nil
}
