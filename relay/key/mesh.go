package key

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// MeshKey is a region's pre-shared mesh key. Whoever holds it can list every
// client of every node in the region and disconnect any of them, so it is
// compared in constant time and never printed by String.
type MeshKey struct{ k [Len]byte }

// ErrInvalidMeshKey is the error derper reports for a malformed mesh key.
var ErrInvalidMeshKey = errors.New("invalid mesh key")

// NewMesh returns a fresh random mesh key.
func NewMesh() MeshKey {
	var m MeshKey
	if _, err := rand.Read(m.k[:]); err != nil {
		panic("key: crypto/rand failed: " + err.Error())
	}
	return m
}

// ParseMeshKey parses 64 hex digits (either case), ignoring surrounding
// white space, as found in a mesh PSK file.
func ParseMeshKey(s string) (MeshKey, error) {
	s = strings.TrimSpace(s)
	if len(s) != 2*Len {
		return MeshKey{}, fmt.Errorf("%w: want %d hex characters, got %d", ErrInvalidMeshKey, 2*Len, len(s))
	}
	var m MeshKey
	if _, err := hex.Decode(m.k[:], []byte(s)); err != nil {
		return MeshKey{}, fmt.Errorf("%w: %v", ErrInvalidMeshKey, err)
	}
	return m, nil
}

// IsZero reports whether no key is set.
func (m MeshKey) IsZero() bool { return m == MeshKey{} }

// Equal compares in constant time.
func (m MeshKey) Equal(o MeshKey) bool { return subtle.ConstantTimeCompare(m.k[:], o.k[:]) == 1 }

// Hex returns the 64 lowercase hex digits. It is the key itself: write it
// only to the PSK file or the ClientInfo frame.
func (m MeshKey) Hex() string { return hex.EncodeToString(m.k[:]) }

// String never reveals the key.
func (m MeshKey) String() string {
	if m.IsZero() {
		return "<none>"
	}
	return "<redacted>"
}

// MarshalJSON writes the hex form, as Tailscale clients send it.
func (m MeshKey) MarshalJSON() ([]byte, error) { return json.Marshal(m.Hex()) }

// UnmarshalJSON accepts only a 64-hex string; like derper, an empty string is
// an error rather than "no key".
func (m *MeshKey) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidMeshKey, err)
	}
	k, err := ParseMeshKey(s)
	if err != nil {
		return err
	}
	*m = k
	return nil
}
