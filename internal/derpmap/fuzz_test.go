package derpmap

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

// FuzzParse feeds arbitrary bytes as a DERP map. Parsing must not
// panic, and a map that validates must survive a JSON round trip: encoded
// and parsed again, it is still valid and encodes to the same bytes. (The
// maps themselves may differ where JSON cannot tell: an empty
// RegionScore object is omitted, so it comes back nil.)
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"Regions":{"900":{"RegionID":900,"RegionCode":"test","RegionName":"Test","Nodes":[` +
		`{"Name":"900a","RegionID":900,"HostName":"127.0.0.1","IPv4":"127.0.0.1","IPv6":"none","DERPPort":3340,"STUNPort":3478}]}}}`))
	f.Add([]byte(`{"HomeParams":{"RegionScore":{"1":0.5}},"Regions":{"1":{"RegionID":1,"RegionCode":"a","RegionName":"A",` +
		`"Latitude":1.5,"Longitude":-2.25,"NoMeasureNoHome":true,"Nodes":[{"Name":"1a","RegionID":1,"HostName":"derp.example",` +
		`"CertName":"sha256-raw:` + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" + `","CanPort80":true,"IPv4":"192.0.2.1"}]}}}`))
	f.Add([]byte(`{"Regions":{"0":null}}`))
	f.Add([]byte(`{"Regions":{"1":{"RegionID":2,"Nodes":[null]}}}{}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		m, err := Parse(doc)
		if err != nil {
			if m != nil {
				t.Fatalf("error %v with a map", err)
			}
			return
		}
		for _, id := range m.RegionIDs() {
			_ = m.RegionScore(id)
			for _, n := range m.Regions[id].Nodes {
				_, _ = n.STUNPortOrDefault(), n.DERPPortFor(false)
			}
		}
		enc, err := json.Marshal(m)
		if err != nil {
			t.Fatalf("a valid map does not encode: %v", err)
		}
		again, err := Parse(enc)
		if err != nil {
			t.Fatalf("a valid map, encoded, no longer parses: %v\n%s", err, enc)
		}
		if !reflect.DeepEqual(m.RegionIDs(), again.RegionIDs()) {
			t.Fatalf("round trip changed the regions: %v, then %v", m.RegionIDs(), again.RegionIDs())
		}
		if enc2, _ := json.Marshal(again); !bytes.Equal(enc, enc2) {
			t.Fatalf("round trip changed the map:\n%s\n%s", enc, enc2)
		}
	})
}
