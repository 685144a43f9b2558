// Package stunwire is the STUN message format (RFC 5389) as Tailscale and
// derper use it, both sides: AppendReply answers a binding request the
// way relay/stunserver serves it, TailscaleRequest and ParseResponse are
// the client's side that the prober and netcheck use. Byte layouts are
// given beside the code that reads or writes them.
package stunwire

import (
	"encoding/binary"
	"hash/crc32"
	"net/netip"
)

// STUN header (RFC 5389 §6), 20 bytes:
//
//	type(2) | length of attributes(2) | magic cookie 21 12 A4 42 | txid(12)
//
// Attributes follow as type(2) | length(2) | value, padded to 4 bytes.
const (
	headerLen   = 20
	magicCookie = 0x2112A442

	typeBindingRequest = 0x0001
	typeBindingSuccess = 0x0101

	attrMappedAddress       = 0x0001
	attrXorMappedAddress    = 0x0020
	attrXorMappedAddressAlt = 0x8020 // sent by some servers; Tailscale's parser accepts it
	attrSoftware            = 0x8022
	attrFingerprint         = 0x8028

	// comprehensionOptional marks attribute types a receiver may ignore
	// when it does not know them (RFC 5389 §15).
	comprehensionOptional = 0x8000

	fingerprintXOR     = 0x5354554E
	fingerprintAttrLen = 8 // type(2) + length(2) + crc32(4)

	tailscaleSoftware = "tailnode"

	familyIPv4 = 0x01
	familyIPv6 = 0x02

	// MaxReplyLen is the longest reply we build: header, an IPv6
	// XOR-MAPPED-ADDRESS (4+20) and a FINGERPRINT.
	MaxReplyLen = headerLen + 24 + fingerprintAttrLen
)

// isSTUN reports whether b has a STUN header: long enough, top two bits of
// the type clear, magic cookie in place.
func isSTUN(b []byte) bool {
	return len(b) >= headerLen && b[0]&0xC0 == 0 &&
		binary.BigEndian.Uint32(b[4:8]) == magicCookie
}

func fingerprint(b []byte) uint32 { return crc32.ChecksumIEEE(b) ^ fingerprintXOR }

// bindingRequest is what the server learnt from a request it will answer.
type bindingRequest struct {
	txID [12]byte
	// tailscale: the request is Tailscale's (SOFTWARE "tailnode"), so the
	// reply must be derper's exact single-attribute form.
	tailscale bool
	// withFingerprint: a plain RFC 5389 request carried FINGERPRINT, so the
	// reply carries one too.
	withFingerprint bool
}

// parseBindingRequest decides whether req deserves an answer.
//
// Tailscale requests follow derper's rule (spec §5): SOFTWARE "tailnode"
// somewhere, FINGERPRINT last and valid over everything before it; the
// header's length field is not consulted, as derper does not.
//
// Anything else with the cookie and type Binding Request is treated as a
// plain RFC 5389 request and is stricter: the length field must match the
// datagram, every attribute must be comprehension-optional (we would owe a
// 420 error for the others, and answer nothing instead), and a FINGERPRINT,
// if present, must be last and valid.
func parseBindingRequest(req []byte) (bindingRequest, bool) {
	if !isSTUN(req) || binary.BigEndian.Uint16(req[0:2]) != typeBindingRequest {
		return bindingRequest{}, false
	}
	var (
		tailnode         bool
		requiredAttr     bool
		fingerprintCount int
		lastType         uint16
		lastLen          int
	)
	for b := req[headerLen:]; len(b) > 0; {
		if len(b) < 4 {
			return bindingRequest{}, false
		}
		typ := binary.BigEndian.Uint16(b[0:2])
		n := int(binary.BigEndian.Uint16(b[2:4]))
		padded := (n + 3) &^ 3
		b = b[4:]
		if padded > len(b) {
			return bindingRequest{}, false
		}
		switch {
		case typ == attrSoftware && string(b[:n]) == tailscaleSoftware:
			tailnode = true
		case typ == attrFingerprint:
			fingerprintCount++
		case typ < comprehensionOptional:
			requiredAttr = true
		}
		lastType, lastLen = typ, n
		b = b[padded:]
	}

	r := bindingRequest{tailscale: tailnode}
	copy(r.txID[:], req[8:headerLen])
	fingerprintLast := lastType == attrFingerprint && lastLen == 4
	if fingerprintLast {
		want := fingerprint(req[:len(req)-fingerprintAttrLen])
		if binary.BigEndian.Uint32(req[len(req)-4:]) != want {
			return bindingRequest{}, false
		}
	}
	if tailnode {
		return r, fingerprintLast
	}
	if int(binary.BigEndian.Uint16(req[2:4])) != len(req)-headerLen || requiredAttr {
		return bindingRequest{}, false
	}
	switch {
	case fingerprintCount == 0:
	case fingerprintCount == 1 && fingerprintLast:
		r.withFingerprint = true
	default:
		return bindingRequest{}, false
	}
	return r, true
}

// appendBindingSuccess appends the Binding Success reply for r, telling the
// client it was seen at client, to dst.
//
//	01 01 | attrLen | 21 12 A4 42 | txid(12)
//	00 20 | 00 08 (v4) / 00 14 (v6) | 00 | family | port^0x2112 | addr ^ (cookie ‖ txid)
//	[80 28 | 00 04 | crc32(all before) ^ 0x5354554E]   plain RFC 5389 requests with FINGERPRINT only
//
// IPv4-mapped client addresses are unmapped first, so IPv4 clients on a
// dual-stack socket get family 1 (derper 1.104 behaviour).
func appendBindingSuccess(dst []byte, r bindingRequest, client netip.AddrPort) []byte {
	addr := client.Addr().Unmap()
	family, addrLen := byte(familyIPv6), 16
	if addr.Is4() {
		family, addrLen = familyIPv4, 4
	}
	attrsLen := 4 + 4 + addrLen
	if r.withFingerprint {
		attrsLen += fingerprintAttrLen
	}
	start := len(dst)
	dst = binary.BigEndian.AppendUint16(dst, typeBindingSuccess)
	dst = binary.BigEndian.AppendUint16(dst, uint16(attrsLen))
	dst = binary.BigEndian.AppendUint32(dst, magicCookie)
	dst = append(dst, r.txID[:]...)

	dst = binary.BigEndian.AppendUint16(dst, attrXorMappedAddress)
	dst = binary.BigEndian.AppendUint16(dst, uint16(4+addrLen))
	dst = append(dst, 0, family)
	dst = binary.BigEndian.AppendUint16(dst, client.Port()^uint16(magicCookie>>16))
	// The XOR key is cookie ‖ txid: exactly the header bytes 4..20.
	key := dst[start+4 : start+headerLen]
	ip := addr.As16()
	for i, o := range ip[16-addrLen:] {
		dst = append(dst, o^key[i])
	}

	if r.withFingerprint {
		crc := fingerprint(dst[start:])
		dst = binary.BigEndian.AppendUint16(dst, attrFingerprint)
		dst = binary.BigEndian.AppendUint16(dst, 4)
		dst = binary.BigEndian.AppendUint32(dst, crc)
	}
	return dst
}

// AppendReply is the whole request handling, without a socket: the reply
// to req from client appended to dst, or false when req gets no answer.
func AppendReply(dst, req []byte, client netip.AddrPort) ([]byte, bool) {
	r, ok := parseBindingRequest(req)
	if !ok || !client.Addr().IsValid() {
		return dst, false
	}
	return appendBindingSuccess(dst, r, client), true
}
