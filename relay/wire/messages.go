package wire

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/netip"

	"github.com/relayctl/relayctl/relay/key"
)

// ForwardedPacket is what a ForwardPacket frame carries: a packet from Src
// to Dst that one node of a region hands another. The client writes and
// the server queues this one type, so a batch passes between them as is.
type ForwardedPacket struct {
	Src, Dst key.NodePublic
	Data     []byte
}

// ClientInfo is the JSON a client seals to the server in its ClientInfo
// frame. Field names and tags are Tailscale's.
type ClientInfo struct {
	// MeshKey, when it equals the server's, grants mesh privileges.
	MeshKey key.MeshKey `json:"meshKey,omitzero"`
	// Version is the client's protocol version; the server ignores it.
	Version int `json:"version,omitempty"`
	// CanAckPings says the client answers Ping frames.
	CanAckPings bool
	// IsProber marks monitoring clients (PeerPresent flag 0x04).
	IsProber bool `json:",omitempty"`
	// AppName is an opaque label for statistics.
	AppName string `json:",omitempty"`
}

// ServerInfo is the JSON the server seals to the client after admission.
type ServerInfo struct {
	Version int `json:"version,omitempty"`
	// TokenBucketBytesPerSecond and TokenBucketBytesBurst, when set, ask the
	// client to rate-limit its own sends.
	TokenBucketBytesPerSecond int `json:",omitempty"`
	TokenBucketBytesBurst     int `json:",omitempty"`
}

// AppendServerKey appends the ServerKey payload.
func AppendServerKey(b []byte, pub key.NodePublic) []byte {
	return pub.AppendTo(append(b, Magic...))
}

// ParseServerKey checks the magic and returns the server's key. Extra bytes
// after the key are allowed and ignored, as clients do.
func ParseServerKey(p []byte) (key.NodePublic, error) {
	if len(p) < len(Magic)+KeyLen {
		return key.NodePublic{}, fmt.Errorf("ServerKey frame of %d bytes, want at least %d", len(p), len(Magic)+KeyLen)
	}
	if string(p[:len(Magic)]) != Magic {
		return key.NodePublic{}, fmt.Errorf("ServerKey frame has bad magic %x", p[:len(Magic)])
	}
	return key.NodePublicFromRaw32(p[len(Magic) : len(Magic)+KeyLen]), nil
}

// SealClientInfo builds a ClientInfo payload: client_pub ‖ sealed JSON.
func SealClientInfo(client key.NodePrivate, server key.NodePublic, info ClientInfo) ([]byte, error) {
	return SealClientInfoWith(client.Public(), client.Shared(server), info)
}

// SealClientInfoWith is SealClientInfo with the box key already computed.
func SealClientInfoWith(client key.NodePublic, shared key.SharedKey, info ClientInfo) ([]byte, error) {
	msg, err := json.Marshal(info)
	if err != nil {
		return nil, fmt.Errorf("encode ClientInfo: %w", err)
	}
	return append(client.AppendTo(nil), shared.Seal(msg)...), nil
}

// OpenClientInfo validates and decrypts a ClientInfo payload.
func OpenClientInfo(server key.NodePrivate, p []byte) (key.NodePublic, ClientInfo, error) {
	client, info, _, err := openClientInfo(func(client key.NodePublic) (key.SharedKey, error) { return server.Shared(client), nil }, p)
	return client, info, err
}

// OpenClientInfoPrepared is OpenClientInfo for a server's prepared key (one
// scalar multiplication per handshake); it also returns the box key
// between server and client, for sealing ServerInfo without computing it
// again.
func OpenClientInfoPrepared(server *key.PreparedKey, p []byte) (key.NodePublic, ClientInfo, key.SharedKey, error) {
	return openClientInfo(server.Shared, p)
}

func openClientInfo(sharedWith func(key.NodePublic) (key.SharedKey, error), p []byte) (key.NodePublic, ClientInfo, key.SharedKey, error) {
	var info ClientInfo
	if err := checkClientInfoLen(int64(len(p))); err != nil {
		return key.NodePublic{}, info, key.SharedKey{}, err
	}
	client := key.NodePublicFromRaw32(p[:KeyLen])
	shared, err := sharedWith(client)
	if err != nil {
		return client, info, shared, fmt.Errorf("ClientInfo from %s: %w", client.ShortString(), err)
	}
	msg, err := shared.Open(p[KeyLen:])
	if err != nil {
		return client, info, shared, fmt.Errorf("ClientInfo from %s: %w", client.ShortString(), err)
	}
	if err := json.Unmarshal(msg, &info); err != nil {
		return client, info, shared, fmt.Errorf("ClientInfo JSON from %s: %w", client.ShortString(), err)
	}
	return client, info, shared, nil
}

// SealServerInfoWith builds a ServerInfo payload with the box key between
// server and client.
func SealServerInfoWith(shared key.SharedKey, info ServerInfo) ([]byte, error) {
	msg, err := json.Marshal(info)
	if err != nil {
		return nil, fmt.Errorf("encode ServerInfo: %w", err)
	}
	return shared.Seal(msg), nil
}

// OpenServerInfoWith decrypts a ServerInfo payload with the box key
// between client and server.
func OpenServerInfoWith(shared key.SharedKey, p []byte) (ServerInfo, error) {
	var info ServerInfo
	msg, err := shared.Open(p)
	if err != nil {
		return info, fmt.Errorf("ServerInfo: %w", err)
	}
	if err := json.Unmarshal(msg, &info); err != nil {
		return info, fmt.Errorf("ServerInfo JSON: %w", err)
	}
	return info, nil
}

// The packet frames are a head (frame header and keys) and the packet.
// Writers append the head and then write the packet from wherever it is,
// without copying it into a frame first.
const (
	SendPacketHeadLen    = FrameHeaderLen + KeyLen   // header ‖ dst_pub
	ForwardPacketHeadLen = FrameHeaderLen + 2*KeyLen // header ‖ src_pub ‖ dst_pub
	RecvPacketHeadLen    = FrameHeaderLen + KeyLen   // header ‖ src_pub
)

// AppendSendPacketHead appends the head of a SendPacket frame for a packet
// of pktLen bytes to dst.
func AppendSendPacketHead(b []byte, dst key.NodePublic, pktLen int) []byte {
	return dst.AppendTo(AppendFrameHeader(b, FrameSendPacket, uint32(KeyLen+pktLen)))
}

// AppendForwardPacketHead appends the head of a ForwardPacket frame for a
// packet of pktLen bytes from src to dst.
func AppendForwardPacketHead(b []byte, src, dst key.NodePublic, pktLen int) []byte {
	b = AppendFrameHeader(b, FrameForwardPacket, uint32(2*KeyLen+pktLen))
	return dst.AppendTo(src.AppendTo(b))
}

// AppendRecvPacketHead appends the head of a RecvPacket frame for a packet
// of pktLen bytes from src.
func AppendRecvPacketHead(b []byte, src key.NodePublic, pktLen int) []byte {
	return src.AppendTo(AppendFrameHeader(b, FrameRecvPacket, uint32(KeyLen+pktLen)))
}

// ParseRecvPacket splits a RecvPacket payload.
func ParseRecvPacket(p []byte) (src key.NodePublic, pkt []byte, err error) {
	if len(p) < KeyLen {
		return src, nil, fmt.Errorf("short RecvPacket frame of %d bytes", len(p))
	}
	return key.NodePublicFromRaw32(p[:KeyLen]), p[KeyLen:], nil
}

// ParsePeerGone reads a PeerGone payload. Like Tailscale's client it accepts
// the old 32-byte form (reason Disconnected).
func ParsePeerGone(p []byte) (key.NodePublic, PeerGoneReason, error) {
	if len(p) < KeyLen {
		return key.NodePublic{}, 0, fmt.Errorf("short PeerGone frame of %d bytes", len(p))
	}
	reason := PeerGoneDisconnected
	if len(p) > KeyLen {
		reason = PeerGoneReason(p[KeyLen])
	}
	return key.NodePublicFromRaw32(p[:KeyLen]), reason, nil
}

// AppendPeerGone appends a PeerGone payload.
func AppendPeerGone(b []byte, peer key.NodePublic, reason PeerGoneReason) []byte {
	return append(peer.AppendTo(b), byte(reason))
}

// PeerPresent is a watcher's news of a connection.
type PeerPresent struct {
	Key   key.NodePublic
	Addr  netip.AddrPort // zero when the server did not say
	Flags PeerPresentFlags
}

// PeerPresentLen is the payload length derper v1.102 sends.
const PeerPresentLen = KeyLen + 16 + 2 + 1

// AppendPeerPresent appends the 51-byte PeerPresent payload. IPv4 addresses
// travel as IPv4-mapped IPv6.
func AppendPeerPresent(b []byte, pp PeerPresent) []byte {
	b = pp.Key.AppendTo(b)
	var ip [16]byte
	var port uint16
	if pp.Addr.IsValid() {
		ip = pp.Addr.Addr().As16()
		port = pp.Addr.Port()
	}
	b = append(b, ip[:]...)
	b = binary.BigEndian.AppendUint16(b, port)
	return append(b, byte(pp.Flags))
}

// ParsePeerPresent reads a PeerPresent payload progressively, as clients do:
// 32 bytes is a key alone, +18 adds the address, +1 the flags; anything
// after that (newer servers append an app name) is ignored.
func ParsePeerPresent(p []byte) (PeerPresent, error) {
	var pp PeerPresent
	if len(p) < KeyLen {
		return pp, fmt.Errorf("short PeerPresent frame of %d bytes", len(p))
	}
	pp.Key = key.NodePublicFromRaw32(p[:KeyLen])
	if len(p) >= KeyLen+18 {
		ip := netip.AddrFrom16([16]byte(p[KeyLen : KeyLen+16])).Unmap()
		port := binary.BigEndian.Uint16(p[KeyLen+16:])
		if !ip.IsUnspecified() || port != 0 {
			pp.Addr = netip.AddrPortFrom(ip, port)
		}
	}
	if len(p) >= PeerPresentLen {
		pp.Flags = PeerPresentFlags(p[KeyLen+18])
	}
	return pp, nil
}

// ParsePingData reads a Ping or Pong payload as a client does: the first
// PingLen bytes are the data, anything after them is ignored.
func ParsePingData(p []byte) ([PingLen]byte, error) {
	if len(p) < PingLen {
		return [PingLen]byte{}, fmt.Errorf("Ping or Pong frame of %d bytes, want at least %d", len(p), PingLen)
	}
	return [PingLen]byte(p), nil
}

// Restarting is the payload of a Restarting frame.
type Restarting struct {
	ReconnectInMillis uint32 // wait this long before reconnecting
	TryForMillis      uint32 // then keep trying this long
}

// AppendRestarting appends the 8-byte Restarting payload.
func AppendRestarting(b []byte, r Restarting) []byte {
	b = binary.BigEndian.AppendUint32(b, r.ReconnectInMillis)
	return binary.BigEndian.AppendUint32(b, r.TryForMillis)
}

// ParseRestarting reads a Restarting payload.
func ParseRestarting(p []byte) (Restarting, error) {
	if len(p) < 8 {
		return Restarting{}, fmt.Errorf("Restarting frame of %d bytes, want 8", len(p))
	}
	return Restarting{binary.BigEndian.Uint32(p), binary.BigEndian.Uint32(p[4:])}, nil
}

// discoMagic starts every Tailscale disco message: "TS💬".
const discoMagic = "TS\xf0\x9f\x92\xac"

// DiscoMagic is discoMagic for load generators that imitate disco traffic.
const DiscoMagic = discoMagic

// discoMinLen is magic + sender disco key + nonce.
const discoMinLen = len(discoMagic) + KeyLen + NonceLen

// IsDisco reports whether pkt looks like a disco message. Disco packets
// get their own send queue and PeerGone(NotHere) replies.
func IsDisco(pkt []byte) bool {
	return len(pkt) >= discoMinLen && bytes.HasPrefix(pkt, []byte(discoMagic))
}
