package interop

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"tailscale.com/derp"
	"tailscale.com/derp/derphttp"
	"tailscale.com/net/netmon"
	"tailscale.com/types/key"
	"tailscale.com/types/logger"
)

// msgTimeout bounds every wait for a message that should arrive promptly.
const msgTimeout = 5 * time.Second

// receiver is what both derphttp.Client and derp.Client offer.
type receiver interface {
	Recv() (derp.ReceivedMessage, error)
}

// inbox drains a receiver on its own goroutine so tests can wait for
// messages with a deadline. It stops at the first receive error and never
// reconnects.
type inbox struct {
	msgs chan derp.ReceivedMessage
	done chan struct{}
	err  error // valid after done is closed
	seen []derp.ReceivedMessage
}

func startInbox(r receiver) *inbox { return drainInto(r, nil) }

// drainInto feeds a new inbox from r until a receive error for which
// keepOn (nil: none) does not say to read on.
func drainInto(r receiver, keepOn func(error) bool) *inbox {
	in := &inbox{msgs: make(chan derp.ReceivedMessage, 1024), done: make(chan struct{})}
	go func() {
		defer close(in.done)
		for {
			m, err := r.Recv()
			if err != nil {
				if keepOn != nil && keepOn(err) {
					continue
				}
				in.err = err
				return
			}
			// A packet's Data is only valid until the next Recv.
			if p, ok := m.(derp.ReceivedPacket); ok {
				p.Data = bytes.Clone(p.Data)
				m = p
			}
			in.msgs <- m
		}
	}()
	return in
}

// next returns the next message other than a KeepAlive.
func (in *inbox) next(timeout time.Duration) (derp.ReceivedMessage, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		select {
		case m := <-in.msgs:
			if _, ok := m.(derp.KeepAliveMessage); ok {
				continue
			}
			in.seen = append(in.seen, m)
			return m, nil
		case <-in.done:
			// Deliver anything queued before the error.
			select {
			case m := <-in.msgs:
				in.seen = append(in.seen, m)
				return m, nil
			default:
			}
			return nil, fmt.Errorf("connection ended: %v", in.err)
		case <-deadline.C:
			return nil, fmt.Errorf("nothing received within %v", timeout)
		}
	}
}

// waitFor skips messages until one satisfies match; everything read is kept
// in seen, so a test can check afterwards what else arrived.
func (in *inbox) waitFor(timeout time.Duration, match func(derp.ReceivedMessage) bool) (derp.ReceivedMessage, error) {
	end := time.Now().Add(timeout)
	for {
		m, err := in.next(time.Until(end))
		if err != nil {
			return nil, err
		}
		if match(m) {
			return m, nil
		}
	}
}

// peer is a client connected with Tailscale's own derphttp library.
type peer struct {
	c    *derphttp.Client
	priv key.NodePrivate
	pub  key.NodePublic
	in   *inbox
}

// connectPeer connects a new random key to s and waits for ServerInfo,
// which the server sends only after it has registered the client.
// connectDERP connects Tailscale's derphttp client as priv to derpURL
// within timeout; a client that failed to connect is closed.
func connectDERP(ctx context.Context, priv key.NodePrivate, derpURL string, timeout time.Duration) (*derphttp.Client, error) {
	c, err := derphttp.NewClient(priv, derpURL, logger.Discard, netmon.NewStatic())
	if err != nil {
		panic(err) // only for an unparseable URL
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := c.Connect(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func connectPeer(t *testing.T, s *server) *peer {
	t.Helper()
	return connectPeerAs(t, s, key.NewNode())
}

func connectPeerAs(t *testing.T, s *server, priv key.NodePrivate) *peer {
	t.Helper()
	c, err := derphttp.NewClient(priv, s.url("/derp"), logger.Discard, netmon.NewStatic())
	if err != nil {
		t.Fatal(err)
	}
	p, err := greet(t, c, priv, false)
	if err != nil {
		t.Fatalf("peer %s on %s: %v", priv.Public().ShortString(), s.kind, err)
	}
	return p
}

// greet connects c, a client for priv, starts reading from it (across
// reconnects when roaming, see startRoamingInbox) and waits for
// ServerInfo, which the server sends only after it has registered the
// client. The peer is closed at cleanup.
func greet(t *testing.T, c *derphttp.Client, priv key.NodePrivate, roaming bool) (*peer, error) {
	ctx, cancel := context.WithTimeout(t.Context(), msgTimeout)
	defer cancel()
	if err := c.Connect(ctx); err != nil {
		c.Close()
		return nil, fmt.Errorf("connect: %w", err)
	}
	p := &peer{c: c, priv: priv, pub: priv.Public()}
	if roaming {
		p.in = startRoamingInbox(c)
	} else {
		p.in = startInbox(c)
	}
	t.Cleanup(func() {
		if err := p.close(); err != nil {
			t.Error(err)
		}
	})
	m, err := p.in.next(msgTimeout)
	if err != nil {
		return nil, fmt.Errorf("waiting for ServerInfo: %w", err)
	}
	if _, ok := m.(derp.ServerInfoMessage); !ok {
		return nil, fmt.Errorf("first message is %T, want ServerInfo", m)
	}
	return p, nil
}

// close ends the connection and waits for the receive goroutine. Closing
// twice is harmless.
func (p *peer) close() error {
	p.c.Close()
	select {
	case <-p.in.done:
		return nil
	case <-time.After(msgTimeout):
		return fmt.Errorf("peer %s: receive loop still running %v after Close", p.pub.ShortString(), msgTimeout)
	}
}

func (p *peer) send(t *testing.T, dst key.NodePublic, pkt []byte) {
	t.Helper()
	if err := p.c.Send(dst, pkt); err != nil {
		t.Fatalf("send %s → %s: %v", p.pub.ShortString(), dst.ShortString(), err)
	}
}

// expectPacket waits for the next non-keepalive message and requires it to
// be a packet from src with exactly want as contents.
func (p *peer) expectPacket(t *testing.T, src key.NodePublic, want []byte) {
	t.Helper()
	m, err := p.in.next(msgTimeout)
	if err != nil {
		t.Fatalf("peer %s: waiting for packet from %s: %v", p.pub.ShortString(), src.ShortString(), err)
	}
	checkPacket(t, m, src, want)
}

func checkPacket(t *testing.T, m derp.ReceivedMessage, src key.NodePublic, want []byte) {
	t.Helper()
	got, ok := m.(derp.ReceivedPacket)
	if !ok {
		t.Fatalf("got %T %+v, want a packet from %s", m, m, src.ShortString())
	}
	if got.Source != src {
		t.Fatalf("packet source %s, want %s", got.Source.ShortString(), src.ShortString())
	}
	if !bytes.Equal(got.Data, want) {
		t.Fatalf("packet from %s: got %d bytes %s, want %d bytes %s",
			src.ShortString(), len(got.Data), abbrev(got.Data), len(want), abbrev(want))
	}
}

// exchange checks delivery both ways between a and b.
func exchange(t *testing.T, a, b *peer) {
	t.Helper()
	ab := fmt.Appendf(nil, "%s to %s", a.pub.ShortString(), b.pub.ShortString())
	a.send(t, b.pub, ab)
	b.expectPacket(t, a.pub, ab)
	ba := fmt.Appendf(nil, "%s to %s", b.pub.ShortString(), a.pub.ShortString())
	b.send(t, a.pub, ba)
	a.expectPacket(t, b.pub, ba)
}

func abbrev(b []byte) string {
	if len(b) > 16 {
		return fmt.Sprintf("%x…", b[:16])
	}
	return fmt.Sprintf("%x", b)
}
