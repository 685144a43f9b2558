package render

import "testing"

func TestSI(t *testing.T) {
	for _, tc := range []struct {
		in   float64
		want string
	}{
		{0, "0"},
		{950, "950"},
		{999.4, "999"},
		{1200, "1.2k"},
		{2950, "2.95k"},
		{1.5e6, "1.5M"},
		{3456789, "3.46M"},
	} {
		if got := SI(tc.in); got != tc.want {
			t.Errorf("SI(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
