package derperflags

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// TestGuideTableIsCurrent fails when the table changed without
// `go generate ./...`.
func TestGuideTableIsCurrent(t *testing.T) {
	doc, err := os.ReadFile("../../docs/migrating-from-derper.md")
	if err != nil {
		t.Fatal(err)
	}
	want, err := SpliceGuide(doc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(doc, want) {
		t.Fatal("docs/migrating-from-derper.md's derper flag table is stale; run `go generate ./...` and commit")
	}
	for _, f := range Flags {
		if !strings.Contains(string(doc), "| `-"+f.Name+"` |") {
			t.Errorf("the guide's table has no row for -%s", f.Name)
		}
	}
}

func TestSpliceGuideNeedsMarkers(t *testing.T) {
	if _, err := SpliceGuide([]byte("# no markers\n")); err == nil {
		t.Error("a guide without markers was accepted")
	}
}
