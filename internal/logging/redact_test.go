package logging

import (
	"slices"
	"testing"
)

func TestRedactURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"https://admit.example/verify", "https://admit.example/verify"},
		{"https://user:pw@admit.example/verify?token=s3cret", "https://admit.example/verify?<redacted>"},
		{"https://admit.example/verify#frag", "https://admit.example/verify"},
		{"not a url", "not a url"},
		{"/etc/relayctl/mesh.key", "/etc/relayctl/mesh.key"},
		{"https://bad host/%zz", "<unparseable URL>"},
	}
	for _, tc := range tests {
		if got := RedactURL(tc.in); got != tc.want {
			t.Errorf("RedactURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestRedactArgs(t *testing.T) {
	in := []string{"relayctl", "serve", "--verify-client-url", "https://u:p@a.example/x?t=1", "--verify-client-url=https://a.example/?t=2", "--addr=:443"}
	want := []string{"relayctl", "serve", "--verify-client-url", "https://a.example/x?<redacted>", "--verify-client-url=https://a.example/?<redacted>", "--addr=:443"}
	if got := RedactArgs(in); !slices.Equal(got, want) {
		t.Fatalf("RedactArgs:\n got %q\nwant %q", got, want)
	}
}
