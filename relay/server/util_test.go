package server_test

import (
	"bytes"
	"strings"
)

// stringsBuilder collects a metrics scrape and finds one series in it.
type stringsBuilder struct{ bytes.Buffer }

// find returns the value of the series whose name-and-labels is exactly
// series, or "" if it is absent.
func (b *stringsBuilder) find(series string) string {
	for _, l := range strings.Split(b.String(), "\n") {
		if v, ok := strings.CutPrefix(l, series+" "); ok {
			return v
		}
	}
	return ""
}
