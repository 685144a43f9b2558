package server

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/relayctl/relayctl/relay/wire"
)

// chunkyReader returns at most a random few bytes per Read, like a socket.
type chunkyReader struct {
	data []byte
	rng  *rand.Rand
	max  int
}

func (c *chunkyReader) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), len(c.data), 1+c.rng.IntN(c.max))
	copy(p, c.data[:n])
	c.data = c.data[n:]
	return n, nil
}

func frame(t wire.FrameType, payload []byte) []byte {
	return append(binary.BigEndian.AppendUint32([]byte{byte(t)}, uint32(len(payload))), payload...)
}

// TestFrameReaderFrames reads frames of every size through random read
// boundaries, with some bytes already buffered by the upgrade.
func TestFrameReaderFrames(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, maxRead := range []int{1, 7, 300, 5000, 70000} {
		var stream []byte
		var payloads [][]byte
		for i := range 200 {
			n := []int{0, 1, 31, 32, 33, 1200, 1023, 1024, 1025, 16 << 10, 64<<10 + 32}[i%11]
			p := make([]byte, n)
			for j := range p {
				p[j] = byte(rng.IntN(256))
			}
			payloads = append(payloads, p)
			stream = append(stream, frame(wire.FrameSendPacket, p)...)
		}
		// The first 3000 bytes arrived with the HTTP request.
		pre := bufio.NewReaderSize(bytes.NewReader(stream[:3000]), 4096)
		pre.Peek(3000)
		var fr frameReader
		fr.init(&chunkyReader{data: stream[3000:], rng: rng, max: maxRead}, pre)
		for i, want := range payloads {
			typ, n, err := wire.ReadFrameHeader(&fr)
			if err != nil || typ != wire.FrameSendPacket || int(n) != len(want) {
				t.Fatalf("maxRead %d frame %d: %v %v %d, want %d bytes", maxRead, i, typ, err, n, len(want))
			}
			got := make([]byte, n)
			if n >= wire.KeyLen {
				k, err := fr.Peek(wire.KeyLen)
				if err != nil {
					t.Fatal(err)
				}
				copy(got, k)
				fr.Discard(wire.KeyLen)
				if err := fr.readFull(got[wire.KeyLen:]); err != nil {
					t.Fatal(err)
				}
			} else if err := fr.readFull(got); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("maxRead %d frame %d: payload differs", maxRead, i)
			}
		}
		if _, _, err := wire.ReadFrameHeader(&fr); err != io.EOF {
			t.Fatalf("after the last frame: %v, want EOF", err)
		}
		fr.close()
	}
}

// TestFrameReaderBuffers: a quiet client ends up holding only the small
// buffer; a busy one borrows the big one.
func TestFrameReaderBuffers(t *testing.T) {
	var busy []byte
	for range 100 {
		busy = append(busy, frame(wire.FrameSendPacket, make([]byte, 1200))...)
	}
	var fr frameReader
	src := &chunkyReader{data: busy, rng: rand.New(rand.NewPCG(3, 4)), max: 1 << 20}
	fr.init(src, nil)
	for range 100 {
		_, n, err := wire.ReadFrameHeader(&fr)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fr.Discard(int(n)); err != nil {
			t.Fatal(err)
		}
	}
	if fr.big == nil {
		t.Fatal("a steady sender did not get the big buffer")
	}
	// Then the client goes quiet: a light read, and the next refill
	// gives the big buffer back before waiting.
	src.data = append(frame(wire.FramePing, make([]byte, 8)), frame(wire.FramePing, make([]byte, 8))...)
	for range 2 {
		_, n, err := wire.ReadFrameHeader(&fr)
		if err != nil {
			t.Fatal(err)
		}
		fr.Discard(int(n))
	}
	if _, _, err := wire.ReadFrameHeader(&fr); err != io.EOF {
		t.Fatalf("got %v, want EOF", err)
	}
	if fr.big != nil {
		t.Fatal("an idle client still holds the big buffer")
	}
}
