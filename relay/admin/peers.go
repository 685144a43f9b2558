// Package admin holds operations an operator runs against a relay with the
// region's mesh key: listing its connected peers and force-closing them.
package admin

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/relayctl/relayctl/relay/client"
	"github.com/relayctl/relayctl/relay/key"
	"github.com/relayctl/relayctl/relay/wire"
)

// ErrRefused means the relay hung up on a privileged request: the mesh key
// is wrong, or the relay has none.
var ErrRefused = errors.New("the relay closed the connection on a privileged request: the mesh key was not accepted (wrong key, or the relay has no --mesh-psk-file)")

// Peer is one client connected to the relay.
type Peer struct {
	Key   key.NodePublic        `json:"key"`
	Addr  netip.AddrPort        `json:"addr,omitzero"`
	Flags wire.PeerPresentFlags `json:"-"`
}

// MeshPeer reports a connection made with the mesh key (another node).
func (p Peer) MeshPeer() bool { return p.Flags&wire.PeerPresentIsMeshPeer != 0 }

// Prober reports a monitoring client.
func (p Peer) Prober() bool { return p.Flags&wire.PeerPresentIsProber != 0 }

// NotIdeal reports a client that would rather be on another node of the
// region (it sent Ideal-Node).
func (p Peer) NotIdeal() bool { return p.Flags&wire.PeerPresentNotIdeal != 0 }

// FlagNames spells out the flags for people.
func (p Peer) FlagNames() []string {
	var names []string
	if p.MeshPeer() {
		names = append(names, "mesh")
	}
	if p.Prober() {
		names = append(names, "prober")
	}
	if p.NotIdeal() {
		names = append(names, "not-ideal")
	}
	if len(names) == 0 {
		names = append(names, "regular")
	}
	return names
}

// quietPeriod ends a listing: after the relay has answered our ping, more
// PeerPresent frames may still trail (derper writes them in no fixed
// order), so wait until none has come for this long.
const quietPeriod = 300 * time.Millisecond

// Session is a privileged connection that watches the relay's peers.
type Session struct {
	c       *client.Client
	msgs    chan client.Message
	recvErr chan error
	peers   map[key.NodePublic]Peer
	gone    map[key.NodePublic]bool
	stop    chan struct{} // closed by Close so the read loop never blocks forever
}

// Watch subscribes c (dialled with the mesh key) to the relay's peers.
func Watch(c *client.Client) (*Session, error) {
	if err := c.WatchConns(); err != nil {
		return nil, err
	}
	s := &Session{c: c, msgs: make(chan client.Message, 64), recvErr: make(chan error, 1),
		peers: map[key.NodePublic]Peer{}, gone: map[key.NodePublic]bool{}, stop: make(chan struct{})}
	go s.readLoop()
	return s, nil
}

func (s *Session) readLoop() {
	for {
		m, err := s.c.Recv()
		if err != nil {
			s.recvErr <- err
			close(s.msgs)
			return
		}
		if p, ok := m.(*client.ReceivedPacket); ok {
			_ = p // packets are not for us; Data is reused, so never pass it on
			continue
		}
		select {
		case s.msgs <- m:
		case <-s.stop:
			return
		}
	}
}

// Stop ends the session's reader; close the client too.
func (s *Session) Stop() {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
}

// handle applies one message; it returns the pong data if it was a Pong.
func (s *Session) handle(m client.Message) (pong [8]byte, isPong bool) {
	switch m := m.(type) {
	case client.PeerPresent:
		if m.Key != s.c.PublicKey() {
			s.peers[m.Key] = Peer{Key: m.Key, Addr: m.Addr, Flags: m.Flags}
			delete(s.gone, m.Key)
		}
	case client.PeerGone:
		delete(s.peers, m.Key)
		s.gone[m.Key] = true
	case client.Pong:
		return m.Data, true
	}
	return pong, false
}

func (s *Session) failure(err error) error {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return err
	}
	return fmt.Errorf("%w (%v)", ErrRefused, err)
}

// List returns the relay's connected peers, sorted by key, once the
// initial flood has arrived.
func (s *Session) List(ctx context.Context) ([]Peer, error) {
	var token [8]byte
	rand.Read(token[:])
	if err := s.c.SendPing(token); err != nil {
		return nil, err
	}
	var quiet <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("listing peers: %w", ctx.Err())
		case m, ok := <-s.msgs:
			if !ok {
				return nil, s.failure(<-s.recvErr)
			}
			if data, isPong := s.handle(m); isPong && data == token || quiet != nil {
				quiet = time.After(quietPeriod)
			}
		case <-quiet:
			return s.snapshot(), nil
		}
	}
}

func (s *Session) snapshot() []Peer {
	out := make([]Peer, 0, len(s.peers))
	for _, p := range s.peers {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b Peer) int { return strings.Compare(a.Key.String(), b.Key.String()) })
	return out
}

// Close asks the relay to disconnect every connection of each key, then
// waits (until ctx ends) for the relay to report each one gone. It returns
// the keys confirmed gone.
func (s *Session) Close(ctx context.Context, keys []key.NodePublic) (closed map[key.NodePublic]bool, err error) {
	for _, k := range keys {
		if err := s.c.ClosePeer(k); err != nil {
			return nil, err
		}
	}
	closed = map[key.NodePublic]bool{}
	want := len(keys)
	for {
		for _, k := range keys {
			if s.gone[k] {
				closed[k] = true
			}
		}
		if len(closed) == want {
			return closed, nil
		}
		select {
		case <-ctx.Done():
			return closed, nil
		case m, ok := <-s.msgs:
			if !ok {
				return closed, s.failure(<-s.recvErr)
			}
			s.handle(m)
		}
	}
}
