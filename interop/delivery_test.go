package interop

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"tailscale.com/derp"
)

// deliveryWindow caps packets in flight so the server's per-client queue
// (32 deep, dropping the oldest) never overflows: the test is about order
// and content, not about queue drops.
const deliveryWindow = 16

// testDelivery sends the boundary sizes alone, then 200 packets of mixed
// sizes, and requires each to arrive whole, in order, with A as source.
func testDelivery(t *testing.T, k serverKind) {
	s := startServer(t, k)
	a, b := connectPeer(t, s), connectPeer(t, s)

	rng := rand.New(rand.NewChaCha8([32]byte{'d', 'e', 'r', 'p'}))
	payload := func(seq, size int) []byte {
		p := make([]byte, size)
		for i := range p {
			p[i] = byte(rng.Uint32())
		}
		if size >= 4 {
			binary.BigEndian.PutUint32(p, uint32(seq))
		}
		return p
	}

	for _, size := range []int{0, 1200, derp.MaxPacketSize} {
		p := payload(size, size)
		a.send(t, b.pub, p)
		b.expectPacket(t, a.pub, p)
	}

	special := []int{0, 1, 31, 32, 33, 1200, 1280, 1500, 65535, derp.MaxPacketSize}
	var want [][]byte
	for i := range 200 {
		size := special[i%len(special)]
		if i%3 == 0 {
			size = rng.IntN(derp.MaxPacketSize + 1)
		}
		want = append(want, payload(i, size))
	}
	received := 0
	for i, p := range want {
		for i-received >= deliveryWindow {
			b.expectPacket(t, a.pub, want[received])
			received++
		}
		a.send(t, b.pub, p)
	}
	for received < len(want) {
		b.expectPacket(t, a.pub, want[received])
		received++
	}
}
