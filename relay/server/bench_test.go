package server_test

import (
	"fmt"
	"testing"

	"github.com/relayctl/relayctl/relay/client"
	"github.com/relayctl/relayctl/relay/server"
)

// BenchmarkRelayThroughput relays packets from one client to another over
// loopback TCP with at most `window` packets in flight (below the queue
// depth, so nothing is dropped). allocs/op counts the whole process, our
// clients included; both sides aim for zero per packet.
func BenchmarkRelayThroughput(b *testing.B) {
	for _, size := range []int{64, 1200, 16000} {
		b.Run(fmt.Sprintf("size=%d", size), func(b *testing.B) {
			r := newTestRelayTB(b, server.Options{})
			tx := r.connect(client.Options{})
			rx := r.connect(client.Options{})
			const window = 16
			credits := make(chan struct{}, window)
			for range window {
				credits <- struct{}{}
			}
			done := make(chan error, 1)
			go func() {
				for i := 0; i < b.N; i++ {
					m, err := rx.Recv()
					if err != nil {
						done <- err
						return
					}
					if _, ok := m.(*client.ReceivedPacket); !ok {
						i--
						continue
					}
					credits <- struct{}{}
				}
				done <- nil
			}()
			pkt := make([]byte, size)
			dst := rx.PublicKey()
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				<-credits
				if err := tx.Send(dst, pkt); err != nil {
					b.Fatal(err)
				}
			}
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		})
	}
}

// BenchmarkRelayRoundTrip bounces one packet between two clients: the
// relay's per-packet latency with nothing queued.
func BenchmarkRelayRoundTrip(b *testing.B) {
	r := newTestRelayTB(b, server.Options{})
	a := r.connect(client.Options{})
	c := r.connect(client.Options{})
	pkt := make([]byte, 1200)
	echoDone := make(chan struct{})
	go func() {
		defer close(echoDone)
		for {
			m, err := c.Recv()
			if err != nil {
				return
			}
			if p, ok := m.(*client.ReceivedPacket); ok {
				if c.Send(p.Source, p.Data) != nil {
					return
				}
			}
		}
	}()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := a.Send(c.PublicKey(), pkt); err != nil {
			b.Fatal(err)
		}
		for {
			m, err := a.Recv()
			if err != nil {
				b.Fatal(err)
			}
			if _, ok := m.(*client.ReceivedPacket); ok {
				break
			}
		}
	}
	b.StopTimer()
	c.Close()
	<-echoDone
}
