package derpmap

import (
	"reflect"
	"strings"
	"testing"
)

func TestDecodeEveryFormat(t *testing.T) {
	m := testInventoryMap(t)
	inventory := strings.Replace(goodInventory, "cert: pin", "cert: "+testPin, 1)
	render := func(format string) string {
		b, err := RenderFormat(m, format)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	tests := []struct {
		name, doc, format string
	}{
		{"json", render(FormatJSON), FormatJSON},
		{"policy", "// policy\n{\n\"acls\": [],\n" + render(FormatTailscalePolicy) + ",}", FormatTailscalePolicy},
		{"headscale", render(FormatHeadscale), FormatHeadscale},
		{"inventory", inventory, FormatInventory},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := SniffFormat([]byte(tt.doc)); got != tt.format {
				t.Errorf("SniffFormat = %q, want %q", got, tt.format)
			}
			d, err := Decode("x", []byte(tt.doc))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(d.Map, m) {
				t.Errorf("decoded map differs from the inventory's")
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct{ name, doc, want string }{
		{"neither", `{"acls": []}`, "not a DERP map: want"},
		{"yaml_other", "server_url: https://x\n", "not a DERP map"},
		{"policy_bad_map", `{"derpMap": {"Regions": []}}`, "tailscale-policy: policy file: derpMap: json:"},
		{"json_syntax", `{"Regions": {"900": }`, "json: decode JSON"},
		{"headscale_unknown_key", "regions:\n  900:\n    RegionID: 900\n", "headscale: decode YAML: line 3: field RegionID not found"},
		{"inventory_invalid", "regions: [{id: 900}]\nnodes: []\n", "fleet.x:1: region 900: code: missing"},
		{"inventory_pending", "regions: [{id: 900, code: a}]\nnodes: [{name: n, region: a, hostname: h, cert: pin}]\n", "pin not filled in"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode("fleet.x", []byte(tt.doc))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
}

func TestDecodeLeavesInputAlone(t *testing.T) {
	doc := "// a commented map\n{\"Regions\": {}, /* none */}\n"
	b := []byte(doc)
	if _, err := Decode("x", b); err != nil {
		t.Fatal(err)
	}
	if string(b) != doc {
		t.Errorf("Decode changed its input to %q", b)
	}
}
