// Package wire is the DERP protocol's byte format: frame types and their
// payload layouts, the handshake messages, and reading and parsing that
// validate everything a peer can send. It is the one place that knows the
// layouts: the server reads client frames with its readers, the client
// parses server frames with its parsers, and the fuzzers drive both. It
// does no I/O beyond reads through a buffered Reader and bufio writes.
package wire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// ProtocolVersion is the only DERP protocol version in use.
const ProtocolVersion = 2

// Magic starts the ServerKey frame: "DERP🔑".
const Magic = "DERP\xf0\x9f\x94\x91"

// Sizes fixed by the protocol.
const (
	KeyLen           = 32
	NonceLen         = 24
	FrameHeaderLen   = 1 + 4
	MaxPacketSize    = 64 << 10          // payload of SendPacket/RecvPacket/ForwardPacket
	MaxClientInfoLen = 256 << 10         // largest ClientInfo the server accepts
	MinClientInfoLen = KeyLen + NonceLen // key and nonce, before the box
	// MaxClientFrameLen is the largest frame the server reads from a client
	// before giving up on it: a SendPacket of the largest packet plus its
	// destination key. Unknown frame types above it close the connection.
	MaxClientFrameLen = MaxPacketSize + KeyLen
	// MaxServerFrameLen is the largest frame a client accepts from a server.
	MaxServerFrameLen = 1 << 20
	// PingLen and MaxPingLen bound the Ping payload the server accepts;
	// only the first PingLen bytes are echoed.
	PingLen    = 8
	MaxPingLen = 1000
)

// FrameType is the first byte of every frame.
type FrameType byte

// Frame types. Each comment gives the payload layout.
const (
	FrameServerKey     FrameType = 0x01 // magic(8) ‖ server_pub(32) [‖ ignored]
	FrameClientInfo    FrameType = 0x02 // client_pub(32) ‖ nonce(24) ‖ box(JSON ClientInfo)
	FrameServerInfo    FrameType = 0x03 // nonce(24) ‖ box(JSON ServerInfo)
	FrameSendPacket    FrameType = 0x04 // dst_pub(32) ‖ packet
	FrameRecvPacket    FrameType = 0x05 // src_pub(32) ‖ packet
	FrameKeepAlive     FrameType = 0x06 // empty
	FrameNotePreferred FrameType = 0x07 // 1 byte: 0x01 = this is my home region
	FramePeerGone      FrameType = 0x08 // peer_pub(32) ‖ reason(1)
	FramePeerPresent   FrameType = 0x09 // peer_pub(32) ‖ ip(16) ‖ port(2 BE) ‖ flags(1)
	FrameForwardPacket FrameType = 0x0a // src_pub(32) ‖ dst_pub(32) ‖ packet
	FrameWatchConns    FrameType = 0x10 // empty; mesh key required
	FrameClosePeer     FrameType = 0x11 // target_pub(32); mesh key required
	FramePing          FrameType = 0x12 // 8 bytes (server accepts 8..1000)
	FramePong          FrameType = 0x13 // the 8 bytes of the ping
	FrameHealth        FrameType = 0x14 // UTF-8 problem text; empty = healthy
	FrameRestarting    FrameType = 0x15 // reconnectIn_ms(4 BE) ‖ tryFor_ms(4 BE)
)

func (t FrameType) String() string {
	switch t {
	case FrameServerKey:
		return "ServerKey"
	case FrameClientInfo:
		return "ClientInfo"
	case FrameServerInfo:
		return "ServerInfo"
	case FrameSendPacket:
		return "SendPacket"
	case FrameRecvPacket:
		return "RecvPacket"
	case FrameKeepAlive:
		return "KeepAlive"
	case FrameNotePreferred:
		return "NotePreferred"
	case FramePeerGone:
		return "PeerGone"
	case FramePeerPresent:
		return "PeerPresent"
	case FrameForwardPacket:
		return "ForwardPacket"
	case FrameWatchConns:
		return "WatchConns"
	case FrameClosePeer:
		return "ClosePeer"
	case FramePing:
		return "Ping"
	case FramePong:
		return "Pong"
	case FrameHealth:
		return "Health"
	case FrameRestarting:
		return "Restarting"
	}
	return fmt.Sprintf("frame(0x%02x)", byte(t))
}

// PeerGoneReason says why a PeerGone frame was sent.
type PeerGoneReason byte

const (
	PeerGoneDisconnected PeerGoneReason = 0x00 // the peer left the region
	PeerGoneNotHere      PeerGoneReason = 0x01 // the server has never heard of the peer
)

// PeerPresentFlags describe a connection in a PeerPresent frame.
type PeerPresentFlags byte

const (
	PeerPresentIsRegular  PeerPresentFlags = 1 << 0
	PeerPresentIsMeshPeer PeerPresentFlags = 1 << 1
	PeerPresentIsProber   PeerPresentFlags = 1 << 2
	PeerPresentNotIdeal   PeerPresentFlags = 1 << 3
)

// ErrFrameTooLarge is returned when a frame header announces more than the
// reader allows.
var ErrFrameTooLarge = errors.New("frame too large")

// FrameError is a frame that breaks its type's layout: the peer's
// protocol violation, as opposed to an I/O error.
type FrameError struct {
	Type FrameType
	Msg  string
}

func (e *FrameError) Error() string { return fmt.Sprintf("%v frame: %s", e.Type, e.Msg) }

func frameErrorf(t FrameType, format string, args ...any) error {
	return &FrameError{Type: t, Msg: fmt.Sprintf(format, args...)}
}

// Reader is what frames are read from: a *bufio.Reader, or any buffered
// reader with the same two methods (the server has its own). Peek must
// return fewer than n bytes only with an error, as bufio's does. Reading
// through Peek and Discard costs no allocation per frame: nothing is
// copied into memory of the reader's caller.
type Reader interface {
	Peek(n int) ([]byte, error)
	Discard(n int) (int, error)
}

// ReadFrameHeader reads a frame's type and payload length. At a frame
// boundary the end of the stream is io.EOF; inside a header it is
// io.ErrUnexpectedEOF.
func ReadFrameHeader(r Reader) (FrameType, uint32, error) {
	h, err := r.Peek(FrameHeaderLen)
	if err != nil {
		if len(h) > 0 {
			err = unexpectedEOF(err)
		}
		return 0, 0, err
	}
	t, n := FrameType(h[0]), binary.BigEndian.Uint32(h[1:])
	r.Discard(FrameHeaderLen)
	return t, n, nil
}

// ReadFrame reads a whole frame into buf (grown if needed), refusing frames
// longer than maxLen.
func ReadFrame(br *bufio.Reader, maxLen uint32, buf []byte) (FrameType, []byte, error) {
	t, n, err := ReadFrameHeader(br)
	if err != nil {
		return 0, nil, err
	}
	p, err := ReadFrameBody(br, t, n, maxLen, buf)
	return t, p, err
}

// ReadFrameBody reads the n-byte body of the frame of type t whose header
// was just read into buf (grown if needed), refusing more than maxLen
// bytes before reading any.
func ReadFrameBody(br *bufio.Reader, t FrameType, n, maxLen uint32, buf []byte) ([]byte, error) {
	if n > maxLen {
		return nil, fmt.Errorf("%v frame of %d bytes: %w (limit %d)", t, n, ErrFrameTooLarge, maxLen)
	}
	if uint32(cap(buf)) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(br, buf); err != nil {
		return nil, fmt.Errorf("%v frame body: %w", t, unexpectedEOF(err))
	}
	return buf, nil
}

func unexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// WriteFrame writes a whole frame.
func WriteFrame(bw *bufio.Writer, t FrameType, payload []byte) error {
	var h [FrameHeaderLen]byte
	if _, err := bw.Write(AppendFrameHeader(h[:0], t, uint32(len(payload)))); err != nil {
		return err
	}
	_, err := bw.Write(payload)
	return err
}

// AppendFrameHeader appends a frame header to b, for callers that build
// frames in their own buffers.
func AppendFrameHeader(b []byte, t FrameType, n uint32) []byte {
	return binary.BigEndian.AppendUint32(append(b, byte(t)), n)
}
