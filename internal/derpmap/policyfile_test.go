package derpmap

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/tailscale/hujson"
)

const policyWithMap = `// Example tailnet policy.
{
	// Who may talk to whom.
	"acls": [
		{"action": "accept", "src": ["*"], "dst": ["*:*"]}, // everyone
	],
	/* the relays */
	"derpMap": {
		// old fleet
		"OmitDefaultRegions": true,
		"Regions": {"900": {"RegionID": 900, "RegionCode": "old", "Nodes": [{"Name": "x", "RegionID": 900, "HostName": "old.example"}]}},
	}, // keep this comment
	"tagOwners": {"tag:relay": ["autogroup:admin"]},
}
`

// decodePolicyMap reads the derpMap the way Tailscale's control plane
// does: HuJSON standardised, then JSON.
func decodePolicyMap(t *testing.T, policy []byte) *DERPMap {
	t.Helper()
	std, err := hujson.Standardize(bytes.Clone(policy)) // it blanks comments in place
	if err != nil {
		t.Fatalf("standardize: %v\n%s", err, policy)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(std, &doc); err != nil {
		t.Fatal(err)
	}
	var m DERPMap
	if err := json.Unmarshal(doc[PolicyKey], &m); err != nil {
		t.Fatalf("derpMap: %v", err)
	}
	return &m
}

func TestApplyToPolicyReplacesOnlyTheValue(t *testing.T) {
	m := testInventoryMap(t)
	in := []byte(policyWithMap)
	res, err := ApplyToPolicy(in, m)
	if err != nil {
		t.Fatal(err)
	}
	if res.Added || !res.KeptOmitDefaultRegions {
		t.Errorf("result %+v, want replaced and omitDefaultRegions kept", res)
	}
	out := res.Policy
	// The old value spans from its '{' to its '}'.
	start := strings.Index(policyWithMap, `"derpMap": `) + len(`"derpMap": `)
	end := strings.Index(policyWithMap, `}, // keep this comment`) + 1
	tail := policyWithMap[end:]
	if !strings.HasPrefix(string(out), policyWithMap[:start]) {
		t.Errorf("bytes before derpMap changed:\n%s", out)
	}
	if !strings.HasSuffix(string(out), tail) {
		t.Errorf("bytes after derpMap changed:\n%s", out)
	}
	if strings.Contains(string(out), "old fleet") {
		t.Errorf("old derpMap value kept:\n%s", out)
	}
	// Nested at the file's tab indentation.
	if !strings.Contains(string(out), "\n\t\t\"Regions\": {\n\t\t\t\"900\": {") {
		t.Errorf("new value not indented with the file's tabs:\n%s", out)
	}
	want := WithOmitDefaultRegions(m)
	if got := decodePolicyMap(t, out); !reflect.DeepEqual(got, want) {
		t.Errorf("derpMap read back differs:\n%s", out)
	}
	// Applying again changes nothing.
	again, err := ApplyToPolicy(out, m)
	if err != nil || string(again.Policy) != string(out) {
		t.Errorf("second apply changed the file (%v):\n%s", err, again.Policy)
	}
}

func TestApplyToPolicyAddsMember(t *testing.T) {
	tests := []struct {
		name   string
		policy string
		want   string // the file with the member's value elided as …
	}{
		{
			name:   "trailing_comma",
			policy: "{\n  // acls\n  \"acls\": [],\n}\n",
			want:   "{\n  // acls\n  \"acls\": [],\n  \"derpMap\": …,\n}\n",
		},
		{
			name:   "no_trailing_comma",
			policy: "{\n\t\"acls\": []\n\t// end\n}",
			want:   "{\n\t\"acls\": [],\n\t\"derpMap\": …\n\t// end\n}",
		},
		{
			name:   "empty_object",
			policy: "{}",
			want:   "{\n\t\"derpMap\": …\n}",
		},
	}
	m := testInventoryMap(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := ApplyToPolicy([]byte(tt.policy), m)
			if err != nil {
				t.Fatal(err)
			}
			if !res.Added {
				t.Error("Added not set")
			}
			out := string(res.Policy)
			i := strings.Index(out, `"derpMap": `) + len(`"derpMap": `)
			elided := elideValue(t, out, i)
			if elided != tt.want {
				t.Errorf("got\n%s\nwant\n%s", elided, tt.want)
			}
			if got := decodePolicyMap(t, res.Policy); !reflect.DeepEqual(got, m) {
				t.Errorf("derpMap read back differs:\n%s", out)
			}
		})
	}
}

// elideValue replaces the JSON object starting at out[i] with "…".
func elideValue(t *testing.T, out string, i int) string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(out[i:]))
	var v json.RawMessage
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("value at %d: %v", i, err)
	}
	return out[:i] + "…" + out[i+int(dec.InputOffset()):]
}

func TestApplyToPolicyErrors(t *testing.T) {
	m := testInventoryMap(t)
	tests := []struct{ name, policy, want string }{
		{"not_hujson", "{\"acls\": [}", "policy file: hujson:"},
		{"not_object", "[]", "the top level is not an object"},
		{"twice", `{"derpMap": {}, "DERPMap": {}}`, "derpMap appears twice"},
		{"bad_old_value", `{"derpMap": []}`, "existing derpMap"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ApplyToPolicy([]byte(tt.policy), m)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
}

func TestApplyToPolicyCaseInsensitiveKey(t *testing.T) {
	res, err := ApplyToPolicy([]byte(`{"DERPMap": {"Regions": {}}}`), testInventoryMap(t))
	if err != nil {
		t.Fatal(err)
	}
	if res.Added || !strings.HasPrefix(string(res.Policy), `{"DERPMap": {`) || strings.Count(string(res.Policy), "\"Regions\"") != 1 {
		t.Errorf("want the DERPMap member replaced:\n%s", res.Policy)
	}
}
