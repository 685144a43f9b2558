package prober

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/relayctl/relayctl/internal/derpmap"
	"github.com/relayctl/relayctl/relay/client"
	"github.com/relayctl/relayctl/relay/key"
)

// derpPeer is one fresh-key probe client on a node, with its frames read
// in the background so that the probe can wait on both ends at once.
type derpPeer struct {
	node *derpmap.DERPNode
	c    *client.Client
	pkts chan receivedPacket
	done chan struct{} // closed when the read loop ends; err says why
	err  error

	closeOnce sync.Once
	closed    chan struct{} // closed by Close, so a blocked read loop ends
}

type receivedPacket struct {
	src  key.NodePublic
	data []byte
	at   time.Time
}

// connect dials n with a fresh key as a prober client (and mesh-privileged
// when a mesh key is configured). The client enforces that ServerInfo is
// the first frame after the handshake. The connection closes when ctx
// ends.
func (p *Prober) connect(ctx context.Context, n *derpmap.DERPNode) (*derpPeer, error) {
	opts := client.Options{
		IsProber:    true,
		MeshKey:     p.meshKeyFor(n),
		AppName:     "relayctl-probe",
		Dialer:      client.NodeDialer(n, p.cfg.PlainHTTP),
		RecvTimeout: -1, // the probe's context bounds the wait instead
	}
	if !p.cfg.PlainHTTP {
		opts.TLSConfig = client.NodeTLSConfig(n, p.cfg.RootCAs, p.cfg.Now)
	}
	url := n.URL(p.cfg.PlainHTTP)
	c, err := client.Dial(ctx, url, key.NewNode(), opts)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", n.Name, err)
	}
	dp := &derpPeer{node: n, c: c, pkts: make(chan receivedPacket, 64), done: make(chan struct{}), closed: make(chan struct{})}
	stop := context.AfterFunc(ctx, func() { c.Close() })
	go func() {
		defer stop()
		dp.readLoop(ctx)
	}()
	return dp, nil
}

func (dp *derpPeer) readLoop(ctx context.Context) {
	defer close(dp.done)
	for {
		m, err := dp.c.Recv()
		if err != nil {
			dp.err = err
			return
		}
		pkt, ok := m.(*client.ReceivedPacket)
		if !ok {
			continue // keepalives, health and peer notices do not matter here
		}
		rp := receivedPacket{src: pkt.Source, data: append([]byte(nil), pkt.Data...), at: time.Now()}
		select {
		case dp.pkts <- rp:
		case <-ctx.Done():
			dp.err = ctx.Err()
			return
		case <-dp.closed:
			dp.err = errors.New("closed by the probe")
			return
		}
	}
}

// closedError explains why a peer's connection ended during a probe.
func (dp *derpPeer) closedError() error {
	return fmt.Errorf("connection to %s closed: %v", dp.node.Name, dp.err)
}

func (dp *derpPeer) Close() {
	dp.closeOnce.Do(func() { close(dp.closed) })
	dp.c.Close()
}

// connectPair dials from and to concurrently.
func (p *Prober) connectPair(ctx context.Context, from, to *derpmap.DERPNode) (a, b *derpPeer, err error) {
	var wg sync.WaitGroup
	var errA, errB error
	wg.Go(func() { a, errA = p.connect(ctx, from) })
	wg.Go(func() { b, errB = p.connect(ctx, to) })
	wg.Wait()
	if errA == nil && errB == nil {
		return a, b, nil
	}
	if a != nil {
		a.Close()
	}
	if b != nil {
		b.Close()
	}
	if errA != nil {
		return nil, nil, errA
	}
	return nil, nil, errB
}
