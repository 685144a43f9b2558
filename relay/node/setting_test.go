package node

import (
	"go/ast"
	"go/parser"
	"go/token"
	"iter"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/relayctl/relayctl/config"
)

// TestEverySettingIsOneField: each declaration binds exactly one Config
// field, no two bind the same one, and every field has its declaration,
// so a field added without one (no flag, file key or env name) fails here.
func TestEverySettingIsOneField(t *testing.T) {
	testValue := map[string]string{"string": "x-test", "int": "7", "int64": "7", "float64": "7.5", "duration": "7s", "stringSlice": "x,y"}
	owner := map[int]string{}
	for _, s := range settings {
		var c Config
		fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
		s.define(fs, &c)
		f := fs.Lookup(s.name)
		if f == nil {
			t.Errorf("%s: its declaration defines no flag of that name", s.name)
			continue
		}
		before := c
		v, ok := testValue[f.Value.Type()]
		if f.Value.Type() == "bool" {
			v, ok = map[string]string{"true": "false", "false": "true"}[f.Value.String()], true
		}
		if !ok {
			t.Errorf("%s: type %s has no test value", s.name, f.Value.Type())
			continue
		}
		if err := fs.Set(s.name, v); err != nil {
			t.Fatalf("%s = %s: %v", s.name, v, err)
		}
		var changed []int
		rb, rc := reflect.ValueOf(before), reflect.ValueOf(c)
		for i := range rc.NumField() {
			if !reflect.DeepEqual(rb.Field(i).Interface(), rc.Field(i).Interface()) {
				changed = append(changed, i)
			}
		}
		if len(changed) != 1 {
			t.Errorf("%s sets %d Config fields, want 1", s.name, len(changed))
			continue
		}
		field := reflect.TypeOf(c).Field(changed[0]).Name
		if other, dup := owner[changed[0]]; dup {
			t.Errorf("%s and %s both set Config.%s", other, s.name, field)
		}
		owner[changed[0]] = s.name
	}
	for i := range reflect.TypeOf(Config{}).NumField() {
		if _, ok := owner[i]; !ok {
			t.Errorf("Config.%s has no setting declaring it", reflect.TypeOf(Config{}).Field(i).Name)
		}
	}
}

// TestSpecFromTheDeclarations: what the config package is told about each
// setting (live, secret, local) is what its declaration says, and the
// source-choosing flags are no settings.
func TestSpecFromTheDeclarations(t *testing.T) {
	spec := Spec()
	fs := spec.NewFlags()
	for _, s := range settings {
		m := spec.Meta[s.name]
		if m.Live != (s.live != nil) || m.Secret != s.isSecret || m.Local != s.isLocal {
			t.Errorf("%s: meta %+v, declaration live=%v secret=%v local=%v", s.name, m, s.live != nil, s.isSecret, s.isLocal)
		}
		if fs.Lookup(s.name) == nil {
			t.Errorf("%s: not in the spec's flags", s.name)
		}
	}
	for _, n := range []string{config.FileFlag, config.PolicyFlag} {
		if _, ok := lookupSetting(n); ok || !strings.Contains(strings.Join(spec.NotSettings, " "), n) {
			t.Errorf("--%s is declared as a setting, or not listed as a source flag", n)
		}
	}
}

// TestEachNameSpelledOnce: a setting's name is written as a string once,
// in its declaration (or the constant it uses), across serve's code: this
// package and cmd's serve and config commands. Everything else reaches
// it through the declaration. Log attribute keys and listener labels
// ("addr", "stun") are words of their own, not setting names.
func TestEachNameSpelledOnce(t *testing.T) {
	names := map[string]bool{}
	for _, s := range settings {
		names[s.name] = true
	}
	var files []string
	for _, pattern := range []string{"*.go", "../../cmd/serve*.go", "../../cmd/config*.go"} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	spelled := map[string][]string{}
	fset := token.NewFileSet()
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for lit := range settingNameLiterals(f, names) {
			spelled[lit.Value] = append(spelled[lit.Value], fset.Position(lit.Pos()).String())
		}
	}
	for name, at := range spelled {
		if len(at) > 1 {
			t.Errorf("%s is spelled %d times: %s", name, len(at), strings.Join(at, ", "))
		}
	}
}

// settingNameLiterals yields the string literals of f that are setting
// names, apart from log attributes and listener labels.
func settingNameLiterals(f *ast.File, names map[string]bool) iter.Seq[*ast.BasicLit] {
	return func(yield func(*ast.BasicLit) bool) {
		var stack []ast.Node
		ast.Inspect(f, func(n ast.Node) bool {
			if n == nil {
				stack = stack[:len(stack)-1]
				return true
			}
			lit, ok := n.(*ast.BasicLit)
			if ok && lit.Kind == token.STRING && !isLogOrLabel(stack) {
				if v, err := strconv.Unquote(lit.Value); err == nil && names[v] && !yield(lit) {
					return false
				}
			}
			stack = append(stack, n)
			return true
		})
	}
}

func isLogOrLabel(stack []ast.Node) bool {
	if len(stack) == 0 {
		return false
	}
	switch p := stack[len(stack)-1].(type) {
	case *ast.CompositeLit: // []any{"addr", …}: log attributes
		return true
	case *ast.CallExpr:
		if id, ok := p.Fun.(*ast.Ident); ok && id.Name == "append" { // attrs = append(attrs, "stun", …)
			return true
		}
		if sel, ok := p.Fun.(*ast.SelectorExpr); ok {
			switch sel.Sel.Name {
			case "Info", "Warn", "Error", "Debug", "Serve":
				return true
			}
		}
	}
	return false
}
