package loadgen

import (
	"github.com/relayctl/relayctl/relay/key"
	"github.com/relayctl/relayctl/relay/wire"
)

// batchBytes is roughly how much a sender writes per system call.
const batchBytes = 64 << 10

// frameBatch is count SendPacket frames, laid out back to back so that any
// prefix of whole frames is written with one call:
//
//	type(1) ‖ length(4) ‖ dst key(32) ‖ payload(size)   × count
//
// The destinations take turns frame by frame (one destination for an
// ordinary pair; two for the mixed sender, see ThroughputConfig.MixedStall).
type frameBatch struct {
	buf      []byte
	frameLen int
	count    int
}

// newFrameBatch builds up to maxCount frames (at least one round of dsts,
// and otherwise no more than fit in about batchBytes, in whole rounds) of
// size-byte payloads for dsts in turn. The payload
// is a fixed pattern whose first byte is not that of disco's magic, so
// relays treat it as ordinary data.
func newFrameBatch(dsts []key.NodePublic, size, maxCount int) frameBatch {
	frameLen := wire.SendPacketHeadLen + size
	rounds := len(dsts)
	count := max(rounds, min(maxCount, batchBytes/frameLen)/rounds*rounds)
	payload := make([]byte, size)
	for i := range payload {
		payload[i] = byte(i*7 + 1)
	}
	buf := make([]byte, 0, count*frameLen)
	for i := range count {
		buf = append(wire.AppendSendPacketHead(buf, dsts[i%rounds], size), payload...)
	}
	return frameBatch{buf: buf, frameLen: frameLen, count: count}
}

// frames is the first n frames.
func (b frameBatch) frames(n int) []byte { return b.buf[:n*b.frameLen] }
