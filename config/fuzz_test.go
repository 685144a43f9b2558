package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// fuzzExts are the file formats a config or policy file may have; the
// fuzzer picks one by index.
var fuzzExts = []string{".yaml", ".json", ".toml", ".yml"}

func fuzzFile(t *testing.T, dir, base string, format uint8, doc []byte) string {
	t.Helper()
	path := filepath.Join(dir, base+fuzzExts[int(format)%len(fuzzExts)])
	if err := os.WriteFile(path, doc, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// FuzzResolveConfigFile feeds arbitrary bytes as the config file. Resolve
// must not panic; an error must name the file; a success must hold a
// value for every setting.
func FuzzResolveConfigFile(f *testing.F) {
	f.Add(uint8(0), []byte("addr: :1001\nstun-port: 1002\nmesh-with: [a.example, b.example]\n"))
	f.Add(uint8(1), []byte(`{"log-level": "debug", "per-client-rate-limit": 5000}`))
	f.Add(uint8(2), []byte("addr = \":443\"\nstun-port = 3478\n"))
	f.Add(uint8(0), []byte("stun-port: [1\n"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, format uint8, doc []byte) {
		path := fuzzFile(t, dir, "relayctl", format, doc)
		res, err := Resolve(testSpec(), Sources{File: path, FileExplicit: true})
		if err != nil {
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("error does not name the file %s: %v", path, err)
			}
			return
		}
		checkResult(t, res)
	})
}

// FuzzPolicyFile feeds arbitrary bytes as a fleet policy document, with
// the node in a region so that scoped documents apply too. Resolve must
// not panic; an error must name the document; a success must hold only
// well-formed rules.
func FuzzPolicyFile(f *testing.F) {
	f.Add(uint8(0), []byte("settings: {per-client-rate-limit: 5000, log-level: warn}\n"))
	f.Add(uint8(0), []byte("scope: {region: 900, node: derp1}\nsettings: {stun-port: 3}\n"))
	f.Add(uint8(1), []byte(`{"tags": {"tag:ops": ["nodekey:00"]}, "acls": [{"action": "accept", "src": ["tag:ops"], "dst": ["*"]}]}`))
	f.Add(uint8(2), []byte("[scope]\nregion = 901\n[settings]\nlog-level = \"error\"\n"))
	f.Add(uint8(0), []byte("acls: [{action: deny, src: ['*'], dst: ['*']}]\n"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, format uint8, doc []byte) {
		path := fuzzFile(t, dir, "policy", format, doc)
		res, err := Resolve(testSpec(), Sources{
			Policies: []string{path},
			Flags:    map[string][]string{"region-id": {"900"}, "node-name": {"derp1"}},
		})
		if err != nil {
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("error does not name the policy file %s: %v", path, err)
			}
			return
		}
		checkResult(t, res)
		for _, a := range res.Policy.ACLs {
			if a.Action != "accept" {
				t.Fatalf("accepted a rule with action %q", a.Action)
			}
		}
		for tag := range res.Policy.Tags {
			if !strings.HasPrefix(tag, "tag:") {
				t.Fatalf("accepted tag %q", tag)
			}
		}
	})
}

// checkResult: every setting of the spec is in the result, with a source.
func checkResult(t *testing.T, res *Result) {
	t.Helper()
	spec := testSpec()
	fs := spec.NewFlags()
	want := 0
	fs.VisitAll(func(fl *pflag.Flag) {
		if spec.isSetting(fl.Name) {
			want++
		}
	})
	if len(res.Entries) != want {
		t.Fatalf("%d entries, want %d", len(res.Entries), want)
	}
	for _, e := range res.Entries {
		if e.Source == "" {
			t.Fatalf("setting %s has no source", e.Name)
		}
	}
}
