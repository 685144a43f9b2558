package internal

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/relayctl/relayctl/"

// TestGroundFloor: no file under internal/ (tests and every build tag
// included) imports a package of this module outside internal/. Checking
// each file's own imports is enough: if no internal package imports
// upward, none does so through another.
func TestGroundFloor(t *testing.T) {
	fset := token.NewFileSet()
	files := 0
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "testdata" {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		files++
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if rest, ok := strings.CutPrefix(p, module); ok && !strings.HasPrefix(rest, "internal/") {
				t.Errorf("internal/%s imports %s: internal/ must not import relay/, probe/, config/ or cmd/ (move the code up, or pass what it needs in)", fset.Position(imp.Pos()), p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 20 {
		t.Fatalf("read only %d files under internal/; is the test running in its own directory?", files)
	}
}
