package loadgen

import (
	"testing"

	"github.com/relayctl/relayctl/relay/key"
	"github.com/relayctl/relayctl/relay/wire"
)

func TestFrameBatchDestinationsTakeTurns(t *testing.T) {
	a, b := key.NewNode().Public(), key.NewNode().Public()
	tests := []struct {
		name      string
		dsts      []key.NodePublic
		size, max int
		wantCount int
	}{
		{"one-destination", []key.NodePublic{a}, 1200, 32, 32},
		{"two-destinations", []key.NodePublic{a, b}, 1200, 64, 52}, // 64 KB hold 53 frames: whole rounds only
		{"one-round-at-least", []key.NodePublic{a, b}, 60000, 64, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fb := newFrameBatch(tt.dsts, tt.size, tt.max)
			if fb.count != tt.wantCount || len(fb.buf) != fb.count*fb.frameLen {
				t.Fatalf("count %d, %d bytes; want %d frames of %d", fb.count, len(fb.buf), tt.wantCount, fb.frameLen)
			}
			for i := range fb.count {
				f := fb.buf[i*fb.frameLen:]
				if wire.FrameType(f[0]) != wire.FrameSendPacket {
					t.Fatalf("frame %d has type %d", i, f[0])
				}
				got := key.NodePublicFromRaw32(f[wire.FrameHeaderLen : wire.FrameHeaderLen+wire.KeyLen])
				if want := tt.dsts[i%len(tt.dsts)]; got != want {
					t.Fatalf("frame %d goes to %v, want %v", i, got, want)
				}
			}
		})
	}
}
