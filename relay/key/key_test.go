package key

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestNodeKeyText(t *testing.T) {
	p := NewNode()
	if b := p.k; b[0]&7 != 0 || b[31]&128 != 0 || b[31]&64 == 0 {
		t.Fatalf("key not clamped: %x", b)
	}
	pub := p.Public()
	s := pub.String()
	if !strings.HasPrefix(s, "nodekey:") || len(s) != 8+64 {
		t.Fatalf("text form %q", s)
	}
	back, err := ParseNodePublic(strings.ToUpper(s[:8]) + strings.ToUpper(s[8:]))
	if err == nil {
		t.Fatalf("upper-case prefix accepted: %v", back)
	}
	back, err = ParseNodePublic("nodekey:" + strings.ToUpper(s[8:]))
	if err != nil || back != pub {
		t.Fatalf("upper-case hex: %v %v", back, err)
	}
	var viaJSON NodePrivate
	b, _ := json.Marshal(p)
	if err := json.Unmarshal(b, &viaJSON); err != nil || viaJSON != p {
		t.Fatalf("private key JSON round trip: %s %v", b, err)
	}
	for _, bad := range []string{"", "nodekey:", "nodekey:zz" + s[10:], s + "00", "privkey:" + s[8:]} {
		if _, err := ParseNodePublic(bad); err == nil {
			t.Errorf("ParseNodePublic(%q) accepted", bad)
		}
	}
}

func TestSealOpen(t *testing.T) {
	a, b := NewNode(), NewNode()
	sealed := a.SealTo(b.Public(), []byte("hello"))
	got, err := b.OpenFrom(a.Public(), sealed)
	if err != nil || string(got) != "hello" {
		t.Fatalf("open: %q %v", got, err)
	}
	sealed[len(sealed)-1] ^= 1
	if _, err := b.OpenFrom(a.Public(), sealed); err != ErrOpen {
		t.Fatalf("tampered box opened: %v", err)
	}
	if _, err := b.OpenFrom(a.Public(), sealed[:10]); err == nil {
		t.Fatal("short box opened")
	}
}

func TestMeshKey(t *testing.T) {
	m := NewMesh()
	if m.String() != "<redacted>" || strings.Contains(m.String(), m.Hex()) {
		t.Fatalf("String reveals the key: %q", m.String())
	}
	parsed, err := ParseMeshKey("  " + strings.ToUpper(m.Hex()) + "\n")
	if err != nil || !parsed.Equal(m) {
		t.Fatalf("parse with whitespace and upper case: %v", err)
	}
	for _, bad := range []string{"", "abc", m.Hex() + "0", strings.Repeat("g", 64)} {
		if _, err := ParseMeshKey(bad); err == nil {
			t.Errorf("ParseMeshKey(%q) accepted", bad)
		}
	}
	var viaJSON MeshKey
	if err := json.Unmarshal([]byte(`""`), &viaJSON); err == nil {
		t.Error(`"meshKey":"" accepted; derper rejects it`)
	}
	b, _ := json.Marshal(m)
	if err := json.Unmarshal(b, &viaJSON); err != nil || !viaJSON.Equal(m) {
		t.Fatalf("JSON round trip: %v", err)
	}
	if NewMesh().Equal(m) {
		t.Fatal("two fresh mesh keys equal")
	}
}

// TestPreparedSharedMatchesBox: the prepared path computes exactly the key
// box.Precompute does, so either side may use either.
func TestPreparedSharedMatchesBox(t *testing.T) {
	for range 20 {
		a, b := NewNode(), NewNode()
		prepared, err := a.Prepare()
		if err != nil {
			t.Fatal(err)
		}
		got, err := prepared.Shared(b.Public())
		if err != nil {
			t.Fatal(err)
		}
		if got != a.Shared(b.Public()) || got != b.Shared(a.Public()) {
			t.Fatal("prepared shared key differs from box.Precompute")
		}
		msg, err := got.Open(b.SealTo(a.Public(), []byte("hi")))
		if err != nil || string(msg) != "hi" {
			t.Fatalf("open: %q %v", msg, err)
		}
	}
	// A low-order public key (all zeros) leaves nothing secret: refused.
	p, _ := NewNode().Prepare()
	if _, err := p.Shared(NodePublic{}); err == nil {
		t.Fatal("all-zero public key accepted")
	}
}
