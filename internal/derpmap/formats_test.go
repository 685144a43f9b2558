package derpmap

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func testInventoryMap(t *testing.T) *DERPMap {
	t.Helper()
	doc := strings.Replace(goodInventory, "cert: pin", "cert: "+testPin, 1)
	inv, err := ParseInventory("fleet.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	m, err := inv.DERPMap()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestRenderFormatsRoundTrip decodes every format the way its reader
// does (headscale: yaml.v3 without tags) and expects the same map back.
func TestRenderFormatsRoundTrip(t *testing.T) {
	m := testInventoryMap(t)
	tests := []struct {
		format string
		decode func([]byte) (*DERPMap, error)
	}{
		{FormatJSON, func(b []byte) (*DERPMap, error) {
			var back DERPMap
			return &back, json.Unmarshal(b, &back)
		}},
		{FormatTailscalePolicy, func(b []byte) (*DERPMap, error) {
			var policy map[string]*DERPMap
			err := json.Unmarshal([]byte("{"+string(b)+"}"), &policy)
			return policy[PolicyKey], err
		}},
		{FormatHeadscale, func(b []byte) (*DERPMap, error) {
			var back DERPMap
			return &back, yaml.Unmarshal(b, &back)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			b, err := RenderFormat(m, tt.format)
			if err != nil {
				t.Fatal(err)
			}
			back, err := tt.decode(b)
			if err != nil {
				t.Fatalf("decode %s: %v\n%s", tt.format, err, b)
			}
			if !reflect.DeepEqual(back, m) {
				t.Errorf("round trip through %s changed the map:\n%s", tt.format, b)
			}
		})
	}
}

func TestRenderHeadscaleKeys(t *testing.T) {
	b, err := RenderHeadscale(testInventoryMap(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"\nregions:\n  900:\n    regionid: 900\n", "    nodes:\n      - name: fra1\n", "certname: " + testPin, "derpport: 8443", "stunport: 3479", "ipv6: none", "homeparams:\n  regionscore:\n    900: 0.8\n", "avoid: true"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("headscale YAML lacks %q:\n%s", want, b)
		}
	}
	for _, absent := range []string{"latitude", "stunonly", "insecurefortests", "omitdefaultregions"} {
		if strings.Contains(string(b), absent) {
			t.Errorf("headscale YAML has empty key %q:\n%s", absent, b)
		}
	}
}

func TestRenderPolicyMemberOmitDefaultRegions(t *testing.T) {
	m := testInventoryMap(t)
	b, err := RenderFormat(WithOmitDefaultRegions(m), FormatTailscalePolicy)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(b), `"derpMap": {`) || !strings.Contains(string(b), `"omitDefaultRegions": true`) || !strings.HasSuffix(string(b), "}\n") {
		t.Errorf("policy member:\n%s", b)
	}
	if m.OmitDefaultRegions {
		t.Error("WithOmitDefaultRegions changed its argument")
	}
}
