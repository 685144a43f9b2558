package client

import (
	"github.com/relayctl/relayctl/relay/key"
	"github.com/relayctl/relayctl/relay/wire"
)

// Message is one frame from the server, as returned by Recv. It is one of
// *ReceivedPacket, PeerGone, PeerPresent, KeepAlive, Ping, Pong, Health,
// Restarting, UnknownFrame or MalformedFrame.
type Message interface{ isMessage() }

// ReceivedPacket is a packet relayed from Source. Recv returns the same
// *ReceivedPacket every time, and Data points into the client's read
// buffer: both are valid only until the next Recv. Copy what you keep.
type ReceivedPacket struct {
	Source key.NodePublic
	Data   []byte
}

// PeerGone says Key left the server (Disconnected) or was never there
// (NotHere, in reply to a disco packet sent to it).
type PeerGone struct {
	Key    key.NodePublic
	Reason wire.PeerGoneReason
}

// PeerPresent announces a connection to a watcher (see WatchConns).
type PeerPresent wire.PeerPresent

// KeepAlive is the server's periodic one-way keepalive.
type KeepAlive struct{}

// Ping is the server asking for a Pong with the same Data.
type Ping struct{ Data [8]byte }

// Pong answers an earlier SendPing.
type Pong struct{ Data [8]byte }

// Health carries the server's problem text; empty means healthy again.
type Health struct{ Problem string }

// Restarting says the server is about to restart and when to come back.
type Restarting wire.Restarting

// UnknownFrame is a frame of a type the client does not expect from a
// server, skipped whole. That includes a second ServerKey or ServerInfo.
type UnknownFrame struct {
	Type wire.FrameType
	Len  int
}

// MalformedFrame is a known frame too short to parse. Tailscale's client
// drops these silently; they are reported here because a client that
// tests a server wants to know.
type MalformedFrame struct {
	Type wire.FrameType
	Len  int
}

// ReceivedPacket has a pointer receiver so that a type switch case written
// as the value type fails to compile instead of never matching.
func (*ReceivedPacket) isMessage() {}
func (PeerGone) isMessage()        {}
func (PeerPresent) isMessage()     {}
func (KeepAlive) isMessage()       {}
func (Ping) isMessage()            {}
func (Pong) isMessage()            {}
func (Health) isMessage()          {}
func (Restarting) isMessage()      {}
func (UnknownFrame) isMessage()    {}
func (MalformedFrame) isMessage()  {}
