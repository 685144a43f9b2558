package cmd

import (
	"os"
	"strings"
	"testing"
)

func TestDERPMapApply(t *testing.T) {
	inv := writeTestFile(t, "fleet.yaml", testFleet)
	const before = "// tailnet policy\n{\n\t\"acls\": [], // none yet\n\t\"derpMap\": {\"Regions\": {}},\n\t// end\n}\n"
	policy := writeTestFile(t, "policy.hujson", before)
	if err := os.Chmod(policy, 0o640); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := runCLI(t, "derpmap", "apply", inv, "--policy-file", policy)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "replaced the derpMap of "+policy+": 2 regions, 2 nodes") {
		t.Errorf("stderr %q", stderr)
	}
	after, err := os.ReadFile(policy)
	if err != nil {
		t.Fatal(err)
	}
	prefix := "// tailnet policy\n{\n\t\"acls\": [], // none yet\n\t\"derpMap\": {\n\t\t\"Regions\": {\n"
	suffix := "\n\t},\n\t// end\n}\n"
	if !strings.HasPrefix(string(after), prefix) || !strings.HasSuffix(string(after), suffix) || !strings.Contains(string(after), testFleetPin) {
		t.Errorf("policy file after apply:\n%s", after)
	}
	if fi, err := os.Stat(policy); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v (%v), want 0640 kept", fi.Mode(), err)
	}
	_, stderr, code = runCLI(t, "derpmap", "apply", inv, "--policy-file", policy)
	if code != 0 || !strings.Contains(stderr, "already up to date") {
		t.Errorf("second apply: exit %d, %q", code, stderr)
	}
}

func TestDERPMapApplyErrors(t *testing.T) {
	inv := writeTestFile(t, "fleet.yaml", testFleet)
	broken := writeTestFile(t, "broken.hujson", "{\"acls\": [")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no_policy_flag", []string{"derpmap", "apply", inv}, "--policy-file is required"},
		{"missing_policy", []string{"derpmap", "apply", inv, "--policy-file", "/nonexistent.hujson"}, "no such file"},
		{"broken_policy", []string{"derpmap", "apply", inv, "--policy-file", broken}, "--policy-file " + broken + ": policy file: hujson:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantUsageError(t, tt.want, tt.args...)
		})
	}
	if b, _ := os.ReadFile(broken); string(b) != "{\"acls\": [" {
		t.Errorf("broken policy file was changed: %q", b)
	}
}
