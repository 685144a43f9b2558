package metrics

import "testing"

func TestHas(t *testing.T) {
	r := NewRegistry()
	if r.Has("requests") {
		t.Fatal("Has(requests) on an empty registry = true")
	}
	r.Counter("requests", "")
	if !r.Has("requests") {
		t.Fatal("Has(requests) after registering it = false")
	}
	if r.Has("request") {
		t.Fatal("Has(request) matched a different name")
	}
}
