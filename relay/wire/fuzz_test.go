package wire_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/relayctl/relayctl/relay/key"
	"github.com/relayctl/relayctl/relay/wire"
)

// FuzzReadFrame feeds arbitrary client bytes through the frame reader and
// every payload parser, as the server would: nothing may panic, and a
// frame over the limit must be refused without reading its body.
func FuzzReadFrame(f *testing.F) {
	f.Add(wire.AppendFrameHeader(nil, wire.FrameSendPacket, 33))
	f.Add(append(wire.AppendFrameHeader(nil, wire.FramePing, 8), "12345678"...))
	f.Add(append(wire.AppendFrameHeader(nil, wire.FrameNotePreferred, 1), 1))
	f.Add(wire.AppendFrameHeader(nil, wire.FrameSendPacket, 0x7fffffff))
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		br := bufio.NewReader(bytes.NewReader(in))
		var buf []byte
		for {
			typ, p, err := wire.ReadFrame(br, wire.MaxClientFrameLen, buf)
			if err != nil {
				return
			}
			if len(p) > wire.MaxClientFrameLen {
				t.Fatalf("ReadFrame returned %d bytes over the limit", len(p))
			}
			buf = p
			switch typ {
			case wire.FrameSendPacket:
				if _, pkt, err := wire.ParseSendPacket(p); err == nil && len(pkt) > wire.MaxPacketSize {
					t.Fatalf("accepted a %d-byte packet", len(pkt))
				}
			case wire.FrameForwardPacket:
				wire.ParseForwardPacket(p)
			case wire.FrameRecvPacket:
				wire.ParseRecvPacket(p)
			case wire.FramePeerGone:
				wire.ParsePeerGone(p)
			case wire.FramePeerPresent:
				if pp, err := wire.ParsePeerPresent(p); err == nil && len(p) >= wire.PeerPresentLen {
					// With an address, what parses encodes back to the
					// same 51 bytes.
					if pp.Addr.IsValid() {
						if got := wire.AppendPeerPresent(nil, pp); !bytes.Equal(got, p[:wire.PeerPresentLen]) {
							t.Fatalf("PeerPresent round trip: %x != %x", got, p[:wire.PeerPresentLen])
						}
					}
				}
			case wire.FrameNotePreferred:
				wire.ParseNotePreferred(p)
			case wire.FramePing:
				wire.ParsePing(p)
			case wire.FrameClosePeer:
				wire.ParseClosePeer(p)
			case wire.FrameRestarting:
				wire.ParseRestarting(p)
			case wire.FrameServerKey:
				wire.ParseServerKey(p)
			}
		}
	})
}

// Fixed keys make ClientInfo fuzz inputs reproducible.
var (
	fuzzServer, _ = key.ParseNodePrivate("privkey:" + strings.Repeat("07", 32))
	fuzzClient, _ = key.ParseNodePrivate("privkey:" + strings.Repeat("09", 32))
)

// FuzzClientInfo decodes arbitrary ClientInfo JSON the way the server
// does after opening the box. Whatever decodes must survive a round trip.
func FuzzClientInfo(f *testing.F) {
	f.Add([]byte(`{"version":2,"CanAckPings":true}`))
	f.Add([]byte(`{"meshKey":"` + string(bytes.Repeat([]byte("ab"), 32)) + `","version":2,"CanAckPings":false}`))
	f.Add([]byte(`{"meshKey":""}`))
	f.Add([]byte(`{"version":2,"CanAckPings":false,"IsProber":true,"AppName":"x"}`))
	f.Add([]byte(`{"MeshKey":123}`))
	f.Add([]byte(`not json`))
	f.Fuzz(func(t *testing.T, plaintext []byte) {
		payload := append(fuzzClient.Public().AppendTo(nil), fuzzClient.SealTo(fuzzServer.Public(), plaintext)...)
		k, info, err := wire.OpenClientInfo(fuzzServer, payload)
		if k != fuzzClient.Public() {
			t.Fatalf("client key %v, want %v", k, fuzzClient.Public())
		}
		if err != nil {
			return
		}
		again, err := json.Marshal(info)
		if err != nil {
			t.Fatalf("re-encode %+v: %v", info, err)
		}
		var back wire.ClientInfo
		if err := json.Unmarshal(again, &back); err != nil {
			t.Fatalf("decode own encoding %s: %v", again, err)
		}
		if !reflect.DeepEqual(back, info) {
			t.Fatalf("round trip changed %+v to %+v", info, back)
		}
	})
}

// FuzzOpenClientInfo feeds whole arbitrary ClientInfo frames (key, nonce,
// box): the box must fail to open without panicking.
func FuzzOpenClientInfo(f *testing.F) {
	good, _ := wire.SealClientInfo(fuzzClient, fuzzServer.Public(), wire.ClientInfo{Version: 2})
	f.Add(good)
	f.Add(good[:wire.MinClientInfoLen])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, payload []byte) {
		wire.OpenClientInfo(fuzzServer, payload)
	})
}
