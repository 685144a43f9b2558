package server_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/relayctl/relayctl/relay/client"
	"github.com/relayctl/relayctl/relay/server"
	"github.com/relayctl/relayctl/relay/wire"
)

// discoLike is a packet the relay files under disco, as a client's disco
// ping would be.
func discoLike(n int) []byte {
	p := bytes.Repeat([]byte{1}, n)
	copy(p, wire.DiscoMagic)
	return p
}

// Most clients are idle: a packet now and then (disco) and a keepalive a
// minute. The writer started for such a one-off exits as soon as it is
// done and gives back the queue storage, instead of holding a goroutine
// and the queue for writerIdleExit; a stream keeps its writer.
func TestOneOffWriterExitsAndReleasesQueues(t *testing.T) {
	// A streaming writer would wait an hour: only the one-off rule can
	// make it exit within the test.
	t.Cleanup(server.SetWriterIdleExitForTest(time.Hour))
	r := newTestRelay(t, server.Options{})
	a := r.connect(client.Options{})
	b := r.connect(client.Options{})
	state := func() (bool, int, int) { return r.srv.WriterStateForTest(b.PublicKey()) }

	if running, data, disco := state(); running || data != 0 || disco != 0 {
		t.Fatalf("before any packet: writer %v, queue slots %d data and %d disco; want none", running, data, disco)
	}
	if err := a.Send(b.PublicKey(), discoLike(100)); err != nil {
		t.Fatal(err)
	}
	recvPacket(t, b)
	r.waitFor("the one-off writer to exit and release the queues", func() bool {
		running, data, disco := state()
		return !running && data == 0 && disco == 0
	})

	// Soon after: a stream. Its writer waits for more (an hour here).
	for range 3 {
		if err := a.Send(b.PublicKey(), discoLike(100)); err != nil {
			t.Fatal(err)
		}
		recvPacket(t, b)
	}
	if running, _, disco := state(); !running || disco == 0 {
		t.Errorf("writer of a stream: running %v, disco queue slots %d; want it kept, with its queue", running, disco)
	}
}
