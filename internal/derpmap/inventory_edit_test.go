package derpmap

import (
	"strings"
	"testing"
)

func TestWithPinsEditsInPlace(t *testing.T) {
	pinB := "sha256-raw:" + strings.Repeat("b", 64)
	pinC := "sha256-raw:" + strings.Repeat("c", 64)
	doc := "# fleet — ünïcode comment\nregions: [{id: 900, code: a}]\nnodes:\n  - name: a1 # first\n    region: a\n    hostname: h1\n    cert: pin   # fill me\n" +
		"  - {name: a2, region: a, hostname: h2, cert: '" + testPin + "'}\n  - {name: a3, region: a, hostname: h3}\n"
	inv, err := ParseInventory("f.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	out, err := inv.WithPins(map[int]string{0: pinB, 1: pinC})
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Replace(strings.Replace(doc, "cert: pin ", "cert: "+pinB+" ", 1), "'"+testPin+"'", "'"+pinC+"'", 1)
	if string(out) != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
}

func TestWithPinsFallsBackToReencoding(t *testing.T) {
	pinB := "sha256-raw:" + strings.Repeat("b", 64)
	doc := "# keep me\nregions: [{id: 900, code: a}]\nnodes:\n  - name: a1\n    region: a\n    hostname: h1\n    cert: >-\n      pin\n"
	inv, err := ParseInventory("f.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	out, err := inv.WithPins(map[int]string{0: pinB})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "# keep me") || !strings.Contains(string(out), "cert: "+pinB) {
		t.Errorf("re-encoded inventory:\n%s", out)
	}
}
