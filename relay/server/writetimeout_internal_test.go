package server

import (
	"testing"
	"time"

	"github.com/relayctl/relayctl/relay/key"
)

// TestWriteTimeoutZeroIsOff: 0 means no write deadline, as 0 means off
// for every duration setting; a negative value is refused rather than
// read as a second spelling of "off".
func TestWriteTimeoutZeroIsOff(t *testing.T) {
	for _, tc := range []struct {
		in      time.Duration
		want    time.Duration
		wantErr bool
	}{
		{0, 0, false},
		{DefaultWriteTimeout, DefaultWriteTimeout, false},
		{5 * time.Second, 5 * time.Second, false},
		{-1, 0, true},
	} {
		s, err := New(Options{PrivateKey: key.NewNode(), WriteTimeout: tc.in})
		if (err != nil) != tc.wantErr {
			t.Errorf("WriteTimeout %v: err %v, want error %v", tc.in, err, tc.wantErr)
			continue
		}
		if err == nil && s.writeTimeout != tc.want {
			t.Errorf("WriteTimeout %v: deadline %v, want %v", tc.in, s.writeTimeout, tc.want)
		}
	}
}
