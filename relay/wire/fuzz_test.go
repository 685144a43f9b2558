package wire_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/relayctl/relayctl/relay/key"
	"github.com/relayctl/relayctl/relay/wire"
)

// FuzzReadFrame feeds arbitrary bytes through the frame readers: the
// client frames as a server reads them, the server frames as a client
// does. Nothing may panic, a frame over its limit is refused without
// reading its body, and every frame read successfully leaves the stream
// exactly at the next frame.
func FuzzReadFrame(f *testing.F) {
	f.Add(wire.AppendFrameHeader(nil, wire.FrameSendPacket, 33))
	f.Add(append(wire.AppendFrameHeader(nil, wire.FrameSendPacket, 33), make([]byte, 33)...))
	f.Add(append(wire.AppendFrameHeader(nil, wire.FrameForwardPacket, 65), make([]byte, 65)...))
	f.Add(append(wire.AppendFrameHeader(nil, wire.FramePing, 8), "12345678"...))
	f.Add(append(wire.AppendFrameHeader(nil, wire.FramePing, 9), "123456789"...))
	f.Add(append(wire.AppendFrameHeader(nil, wire.FrameNotePreferred, 1), 1))
	f.Add(append(wire.AppendFrameHeader(nil, wire.FrameClosePeer, 32), make([]byte, 32)...))
	f.Add(wire.AppendFrameHeader(nil, wire.FrameWatchConns, 0))
	f.Add(wire.AppendFrameHeader(nil, wire.FrameSendPacket, 0x7fffffff))
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		src := bytes.NewReader(in)
		br := bufio.NewReader(src)
		consumed := func() int { return len(in) - src.Len() - br.Buffered() }
		for {
			start := consumed()
			typ, n, err := wire.ReadFrameHeader(br)
			if err != nil {
				return
			}
			if !readFrameBody(t, br, typ, n) {
				return
			}
			if got, want := consumed()-start, wire.FrameHeaderLen+int(n); got != want {
				t.Fatalf("%v frame of %d bytes consumed %d bytes, want %d", typ, n, got, want)
			}
		}
	})
}

// readFrameBody reads one frame's body with the reader for its type and
// reports whether it was read whole.
func readFrameBody(t *testing.T, br *bufio.Reader, typ wire.FrameType, n uint32) bool {
	var err error
	switch typ {
	case wire.FrameSendPacket:
		var size int
		if _, size, err = wire.ReadSendPacketHead(br, n); err == nil {
			if size > wire.MaxPacketSize {
				t.Fatalf("accepted a %d-byte packet", size)
			}
			_, err = br.Discard(size)
		}
	case wire.FrameForwardPacket:
		var size int
		if _, _, size, err = wire.ReadForwardPacketHead(br, n); err == nil {
			_, err = br.Discard(size)
		}
	case wire.FrameNotePreferred:
		_, err = wire.ReadNotePreferred(br, n)
	case wire.FramePing:
		_, err = wire.ReadPing(br, n)
	case wire.FrameClosePeer:
		_, err = wire.ReadClosePeer(br, n)
	case wire.FrameWatchConns:
		err = wire.CheckEmpty(typ, n)
	case wire.FrameClientInfo:
		_, err = wire.ReadClientInfo(br, n)
	default:
		if n > wire.MaxServerFrameLen {
			return false
		}
		p := make([]byte, n)
		if _, err := io.ReadFull(br, p); err != nil {
			return false
		}
		parseServerFrame(t, typ, p)
	}
	return err == nil
}

// parseServerFrame parses a frame a server sends, as a client does.
func parseServerFrame(t *testing.T, typ wire.FrameType, p []byte) {
	switch typ {
	case wire.FrameRecvPacket:
		wire.ParseRecvPacket(p)
	case wire.FramePeerGone:
		wire.ParsePeerGone(p)
	case wire.FramePeerPresent:
		if pp, err := wire.ParsePeerPresent(p); err == nil && len(p) >= wire.PeerPresentLen {
			// With an address, what parses encodes back to the same
			// 51 bytes.
			if pp.Addr.IsValid() {
				if got := wire.AppendPeerPresent(nil, pp); !bytes.Equal(got, p[:wire.PeerPresentLen]) {
					t.Fatalf("PeerPresent round trip: %x != %x", got, p[:wire.PeerPresentLen])
				}
			}
		}
	case wire.FramePing, wire.FramePong:
		wire.ParsePingData(p)
	case wire.FrameRestarting:
		wire.ParseRestarting(p)
	case wire.FrameServerKey:
		wire.ParseServerKey(p)
	}
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
