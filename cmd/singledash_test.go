package cmd

import (
	"strings"
	"testing"
)

func TestSingleDashFlagHints(t *testing.T) {
	tests := []struct {
		args []string
		want string // the whole error line after "relayctl: "
	}{
		{[]string{"serve", "-hostname", "derp.example.com"}, "relayctl flags take two dashes: did you mean --hostname? (see 'relayctl serve --help')"},
		{[]string{"serve", "-hostname=derp.example.com"}, "relayctl flags take two dashes: did you mean --hostname? (see 'relayctl serve --help')"},
		{[]string{"serve", "--certmode", "none", "-stun-port", "3479"}, "relayctl flags take two dashes: did you mean --stun-port?"},
		{[]string{"probe", "-once"}, "relayctl flags take two dashes: did you mean --once? (see 'relayctl probe --help')"},
		{[]string{"config", "show", "-dev"}, "did you mean --dev?"},
		{[]string{"serve", "-a", ":8080"}, "-a is derper's flag: relayctl's is --addr (to convert a whole derper command line: relayctl config from-derper -- DERPER-ARGS)"},
		{[]string{"serve", "-c", "/var/lib/derper/derper.key"}, "-c is derper's flag: relayctl's is --key-file (to convert a whole derper command line: relayctl config from-derper -- DERPER-ARGS)"},
		{[]string{"probe", "-c", "x"}, "-c is derper's flag: relayctl serve's is --key-file"},
		{[]string{"serve", "-version"}, "-version is derper's flag: relayctl's is the command `relayctl version`"},
		{[]string{"serve", "-secrets-url", "https://setec"}, "-secrets-url is derper's flag, which relayctl does not carry (see docs/migrating-from-derper.md)"},
		// Neither relayctl's nor derper's: pflag's own message stays.
		{[]string{"serve", "-x"}, "unknown shorthand flag: 'x' in -x"},
		// A negative number is a value, not a flag.
		{[]string{"serve", "--http-port", "-1", "-hostname", "h"}, "did you mean --hostname?"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			wantUsageError(t, tt.want, tt.args...)
		})
	}
}
