// Package key holds the Curve25519 keys that identify DERP clients and
// servers, the region mesh key, and their text forms. The text forms match
// Tailscale's (nodekey:…, privkey:…), so keys can be pasted between tools.
package key

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/curve25519"
	"golang.org/x/crypto/nacl/box"
)

const (
	// Len is the length of every raw key in bytes.
	Len = 32
	// NonceLen is the length of a nacl box nonce.
	NonceLen = 24

	nodePublicPrefix  = "nodekey:"
	nodePrivatePrefix = "privkey:"
)

// NodePublic is a node's public key: a client's identity on a relay, or the
// relay's own identity.
type NodePublic struct{ k [Len]byte }

// NodePrivate is the private half of a NodePublic.
type NodePrivate struct{ k [Len]byte }

// NewNode returns a fresh random, clamped private key.
func NewNode() NodePrivate {
	var p NodePrivate
	if _, err := rand.Read(p.k[:]); err != nil {
		panic("key: crypto/rand failed: " + err.Error())
	}
	clamp(&p.k)
	return p
}

// clamp applies the Curve25519 scalar clamping so every stored private key
// has the same form Tailscale's tools write.
func clamp(k *[Len]byte) {
	k[0] &= 248
	k[31] = (k[31] & 127) | 64
}

// NodePublicFromRaw32 builds a public key from its 32 raw bytes.
func NodePublicFromRaw32(b []byte) NodePublic {
	var p NodePublic
	if len(b) != Len {
		panic(fmt.Sprintf("key: NodePublicFromRaw32 given %d bytes", len(b)))
	}
	copy(p.k[:], b)
	return p
}

// IsZero reports whether k is the zero key.
func (k NodePublic) IsZero() bool { return k == NodePublic{} }

// IsZero reports whether p is the zero key.
func (p NodePrivate) IsZero() bool { return p == NodePrivate{} }

// Raw32 returns the raw key bytes.
func (k NodePublic) Raw32() [Len]byte { return k.k }

// AppendTo appends the raw key bytes to b (the wire form).
func (k NodePublic) AppendTo(b []byte) []byte { return append(b, k.k[:]...) }

// Public derives the public key.
func (p NodePrivate) Public() NodePublic {
	var pub NodePublic
	curve25519.ScalarBaseMult(&pub.k, &p.k)
	return pub
}

// String returns "nodekey:" and 64 lowercase hex digits.
func (k NodePublic) String() string { return nodePublicPrefix + hex.EncodeToString(k.k[:]) }

// UntypedHex returns the 64 lowercase hex digits without a prefix, the form
// used in the Derp-Public-Key header and the TLS metacert.
func (k NodePublic) UntypedHex() string { return hex.EncodeToString(k.k[:]) }

// ShortString is the short log form Tailscale uses: "[" + 5 base64 chars + "]".
func (k NodePublic) ShortString() string {
	return "[" + base64.StdEncoding.EncodeToString(k.k[:])[:5] + "]"
}

// MarshalText implements encoding.TextMarshaler.
func (k NodePublic) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (k *NodePublic) UnmarshalText(b []byte) error {
	p, err := ParseNodePublic(string(b))
	if err != nil {
		return err
	}
	*k = p
	return nil
}

// ParseNodePublic parses "nodekey:<64 hex>" (either case).
func ParseNodePublic(s string) (NodePublic, error) {
	var k NodePublic
	if err := parsePrefixedHex(s, nodePublicPrefix, k.k[:]); err != nil {
		return NodePublic{}, err
	}
	return k, nil
}

// String returns "privkey:" and 64 lowercase hex digits. Only call it to
// persist the key; never log it.
func (p NodePrivate) String() string { return nodePrivatePrefix + hex.EncodeToString(p.k[:]) }

// MarshalText implements encoding.TextMarshaler.
func (p NodePrivate) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (p *NodePrivate) UnmarshalText(b []byte) error {
	k, err := ParseNodePrivate(string(b))
	if err != nil {
		return err
	}
	*p = k
	return nil
}

// ParseNodePrivate parses "privkey:<64 hex>" (either case).
func ParseNodePrivate(s string) (NodePrivate, error) {
	var p NodePrivate
	if err := parsePrefixedHex(s, nodePrivatePrefix, p.k[:]); err != nil {
		return NodePrivate{}, err
	}
	return p, nil
}

func parsePrefixedHex(s, prefix string, dst []byte) error {
	rest, ok := strings.CutPrefix(s, prefix)
	if !ok {
		return fmt.Errorf("key %q: missing %q prefix", abbreviate(s), prefix)
	}
	if len(rest) != 2*Len {
		return fmt.Errorf("key %q: want %d hex digits after %q, got %d", abbreviate(s), 2*Len, prefix, len(rest))
	}
	if _, err := hex.Decode(dst, []byte(rest)); err != nil {
		return fmt.Errorf("key %q: %w", abbreviate(s), err)
	}
	return nil
}

// abbreviate keeps error messages short and avoids echoing whole secrets.
func abbreviate(s string) string {
	if len(s) > 16 {
		return s[:16] + "…"
	}
	return s
}

// ErrOpen is returned when a sealed box fails to authenticate.
var ErrOpen = errors.New("nacl box did not open (wrong key or corrupted)")

// SealTo encrypts msg for pub with a random nonce: nonce(24) ‖ box.
func (p NodePrivate) SealTo(pub NodePublic, msg []byte) []byte {
	var nonce [NonceLen]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		panic("key: crypto/rand failed: " + err.Error())
	}
	return box.Seal(nonce[:], msg, &nonce, &pub.k, &p.k)
}

// OpenFrom decrypts a nonce(24) ‖ box message sealed by pub.
func (p NodePrivate) OpenFrom(pub NodePublic, sealed []byte) ([]byte, error) {
	if len(sealed) < NonceLen+box.Overhead {
		return nil, fmt.Errorf("sealed message of %d bytes is shorter than nonce and tag", len(sealed))
	}
	var nonce [NonceLen]byte
	copy(nonce[:], sealed)
	out, ok := box.Open(nil, sealed[NonceLen:], &nonce, &pub.k, &p.k)
	if !ok {
		return nil, ErrOpen
	}
	return out, nil
}

// SharedKey is the precomputed nacl box key between two node keys. A
// handshake opens ClientInfo and seals ServerInfo with the same pair of
// keys: computing the X25519 product once halves its cost, which is most
// of a handshake's CPU.
type SharedKey struct{ k [Len]byte }

// Shared precomputes the box key between p and pub.
func (p NodePrivate) Shared(pub NodePublic) SharedKey {
	var s SharedKey
	box.Precompute(&s.k, &pub.k, &p.k)
	return s
}

// Seal encrypts msg with a random nonce: nonce(24) ‖ box.
func (s SharedKey) Seal(msg []byte) []byte {
	var nonce [NonceLen]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		panic("key: crypto/rand failed: " + err.Error())
	}
	return box.SealAfterPrecomputation(nonce[:], msg, &nonce, &s.k)
}

// Open decrypts a nonce(24) ‖ box message.
func (s SharedKey) Open(sealed []byte) ([]byte, error) {
	if len(sealed) < NonceLen+box.Overhead {
		return nil, fmt.Errorf("sealed message of %d bytes is shorter than nonce and tag", len(sealed))
	}
	var nonce [NonceLen]byte
	copy(nonce[:], sealed)
	out, ok := box.OpenAfterPrecomputation(nil, sealed[NonceLen:], &nonce, &s.k)
	if !ok {
		return nil, ErrOpen
	}
	return out, nil
}
