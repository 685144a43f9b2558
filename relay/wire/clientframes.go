package wire

import (
	"io"

	"github.com/relayctl/relayctl/relay/key"
)

// The frames a client sends, read the way a server reads them: straight
// from the stream after ReadFrameHeader, with the length n the header
// announced checked against the frame's layout before a byte of the body
// is read, so a bad length never reads into the next frame. Each reader
// leaves r at the next frame, except the packet frames', which leave the
// packet itself for the caller to read into memory of its choosing.
// Layout violations are *FrameError; I/O errors are returned as they
// come, io.EOF inside a frame as io.ErrUnexpectedEOF.

// ReadSendPacketHead reads a SendPacket frame's destination; the pktLen
// bytes of the packet follow in r.
func ReadSendPacketHead(r Reader, n uint32) (dst key.NodePublic, pktLen int, err error) {
	pktLen, err = packetLen(FrameSendPacket, n, KeyLen)
	if err != nil {
		return dst, 0, err
	}
	dst, err = readKey(r)
	return dst, pktLen, err
}

// ReadForwardPacketHead reads a ForwardPacket frame's source and
// destination; the pktLen bytes of the packet follow in r.
func ReadForwardPacketHead(r Reader, n uint32) (src, dst key.NodePublic, pktLen int, err error) {
	pktLen, err = packetLen(FrameForwardPacket, n, 2*KeyLen)
	if err != nil {
		return src, dst, 0, err
	}
	if src, err = readKey(r); err != nil {
		return src, dst, 0, err
	}
	dst, err = readKey(r)
	return src, dst, pktLen, err
}

// packetLen checks the length of a packet frame whose packet follows
// keysLen bytes of keys, and returns the packet's length.
func packetLen(t FrameType, n uint32, keysLen int) (int, error) {
	if n < uint32(keysLen) {
		return 0, frameErrorf(t, "length %d, want at least %d", n, keysLen)
	}
	if n-uint32(keysLen) > MaxPacketSize {
		return 0, frameErrorf(t, "packet of %d bytes over the %d limit", n-uint32(keysLen), MaxPacketSize)
	}
	return int(n) - keysLen, nil
}

// ReadNotePreferred reads the 1-byte NotePreferred frame.
func ReadNotePreferred(r Reader, n uint32) (preferred bool, err error) {
	if n != 1 {
		return false, frameErrorf(FrameNotePreferred, "length %d, want 1", n)
	}
	b, err := peek(r, 1)
	if err != nil {
		return false, err
	}
	preferred = b[0] != 0
	r.Discard(1)
	return preferred, nil
}

// ReadPing reads a Ping frame (PingLen to MaxPingLen bytes) and returns
// the PingLen bytes a Pong echoes; the rest is skipped.
func ReadPing(r Reader, n uint32) ([PingLen]byte, error) {
	var data [PingLen]byte
	if n < PingLen || n > MaxPingLen {
		return data, frameErrorf(FramePing, "length %d, want %d to %d", n, PingLen, MaxPingLen)
	}
	b, err := peek(r, PingLen)
	if err != nil {
		return data, err
	}
	data = [PingLen]byte(b)
	return data, discard(r, int(n))
}

// ReadClosePeer reads a ClosePeer frame's target.
func ReadClosePeer(r Reader, n uint32) (key.NodePublic, error) {
	if n != KeyLen {
		return key.NodePublic{}, frameErrorf(FrameClosePeer, "length %d, want %d", n, KeyLen)
	}
	return readKey(r)
}

// CheckEmpty checks that a frame that carries nothing (WatchConns,
// KeepAlive) announces no payload.
func CheckEmpty(t FrameType, n uint32) error {
	if n != 0 {
		return frameErrorf(t, "length %d, want 0", n)
	}
	return nil
}

// ReadClientInfo reads a ClientInfo frame's payload for OpenClientInfo.
// The memory grows with what has arrived, not with what the header
// claims: before it has authenticated, a peer must not buy 256 KiB with a
// 5-byte header.
func ReadClientInfo(r io.Reader, n uint32) ([]byte, error) {
	if err := checkClientInfoLen(int64(n)); err != nil {
		return nil, err
	}
	p, err := io.ReadAll(io.LimitReader(r, int64(n)))
	if err == nil && len(p) < int(n) {
		err = io.ErrUnexpectedEOF
	}
	return p, err
}

func checkClientInfoLen(n int64) error {
	if n < MinClientInfoLen || n > MaxClientInfoLen {
		return frameErrorf(FrameClientInfo, "length %d, want %d to %d", n, MinClientInfoLen, MaxClientInfoLen)
	}
	return nil
}

// readKey reads a 32-byte key straight out of r's buffer.
func readKey(r Reader) (key.NodePublic, error) {
	b, err := peek(r, KeyLen)
	if err != nil {
		return key.NodePublic{}, err
	}
	k := key.NodePublicFromRaw32(b)
	r.Discard(KeyLen)
	return k, nil
}

// peek is r.Peek inside a frame, where the end of the stream is
// unexpected.
func peek(r Reader, k int) ([]byte, error) {
	b, err := r.Peek(k)
	if err != nil {
		return nil, unexpectedEOF(err)
	}
	return b, nil
}

func discard(r Reader, k int) error {
	_, err := r.Discard(k)
	return unexpectedEOF(err)
}
