package stunwire

import (
	"encoding/binary"
	"errors"
	"net/netip"
)

// Errors from ParseResponse.
var (
	ErrNotSTUN           = errors.New("stun: not a STUN message")
	ErrNotBindingSuccess = errors.New("stun: not a Binding Success response")
	ErrMalformedAttrs    = errors.New("stun: malformed attributes")
	ErrNoMappedAddress   = errors.New("stun: response carries no mapped address")
	errUnknownAddrFamily = errors.New("stun: unknown address family")
	errShortAddressAttr  = errors.New("stun: address attribute too short")
)

const tailscaleRequestBytes = headerLen + 4 + len(tailscaleSoftware) + fingerprintAttrLen

// TailscaleRequest returns the 40-byte binding request Tailscale clients
// send, which derper (and this server) answer:
//
//	00 01 | 00 14 | 21 12 A4 42 | txid(12)
//	80 22 | 00 08 | "tailnode"
//	80 28 | 00 04 | crc32(first 32 bytes) ^ 0x5354554E
func TailscaleRequest(txID [12]byte) []byte {
	b := make([]byte, 0, tailscaleRequestBytes)
	b = binary.BigEndian.AppendUint16(b, typeBindingRequest)
	b = binary.BigEndian.AppendUint16(b, uint16(tailscaleRequestBytes-headerLen))
	b = binary.BigEndian.AppendUint32(b, magicCookie)
	b = append(b, txID[:]...)
	b = binary.BigEndian.AppendUint16(b, attrSoftware)
	b = binary.BigEndian.AppendUint16(b, uint16(len(tailscaleSoftware)))
	b = append(b, tailscaleSoftware...)
	crc := fingerprint(b)
	b = binary.BigEndian.AppendUint16(b, attrFingerprint)
	b = binary.BigEndian.AppendUint16(b, 4)
	return binary.BigEndian.AppendUint32(b, crc)
}

// ParseResponse reads a Binding Success response: its transaction ID and
// the address the server saw the request come from. It takes that address
// from XOR-MAPPED-ADDRESS (0x0020, or 0x8020 as some servers send it), else
// from MAPPED-ADDRESS (0x0001). IPv4-mapped addresses are unmapped. Like
// Tailscale's client, it does not check FINGERPRINT and ignores bytes past
// the header's length.
//
// txID is set whenever b is a STUN message, so a caller can match it even
// when err reports a non-success response.
func ParseResponse(b []byte) (txID [12]byte, addr netip.AddrPort, err error) {
	if !isSTUN(b) {
		return txID, netip.AddrPort{}, ErrNotSTUN
	}
	copy(txID[:], b[8:headerLen])
	if binary.BigEndian.Uint16(b[0:2]) != typeBindingSuccess {
		return txID, netip.AddrPort{}, ErrNotBindingSuccess
	}
	attrs := b[headerLen:]
	n := int(binary.BigEndian.Uint16(b[2:4]))
	if n > len(attrs) {
		return txID, netip.AddrPort{}, ErrMalformedAttrs
	}
	attrs = attrs[:n]

	var xored, plain netip.AddrPort
	for len(attrs) > 0 {
		if len(attrs) < 4 {
			return txID, netip.AddrPort{}, ErrMalformedAttrs
		}
		typ := binary.BigEndian.Uint16(attrs[0:2])
		alen := int(binary.BigEndian.Uint16(attrs[2:4]))
		padded := (alen + 3) &^ 3
		attrs = attrs[4:]
		if padded > len(attrs) {
			return txID, netip.AddrPort{}, ErrMalformedAttrs
		}
		value := attrs[:alen]
		attrs = attrs[padded:]
		switch typ {
		case attrXorMappedAddress, attrXorMappedAddressAlt:
			// The XOR key is cookie ‖ txid: the header bytes 4..20.
			if xored, err = decodeAddress(value, b[4:headerLen]); err != nil {
				return txID, netip.AddrPort{}, err
			}
		case attrMappedAddress:
			if plain, err = decodeAddress(value, nil); err != nil {
				return txID, netip.AddrPort{}, err
			}
		}
	}
	switch {
	case xored.IsValid():
		return txID, xored, nil
	case plain.IsValid():
		return txID, plain, nil
	}
	return txID, netip.AddrPort{}, ErrNoMappedAddress
}

// decodeAddress reads a (XOR-)MAPPED-ADDRESS value:
//
//	00 | family 01/02 | port(2) | addr(4 or 16)
//
// xorKey is cookie ‖ txid for the XOR variant and nil for the plain one.
func decodeAddress(v, xorKey []byte) (netip.AddrPort, error) {
	if len(v) < 4 {
		return netip.AddrPort{}, errShortAddressAttr
	}
	var addrLen int
	switch v[1] {
	case familyIPv4:
		addrLen = 4
	case familyIPv6:
		addrLen = 16
	default:
		return netip.AddrPort{}, errUnknownAddrFamily
	}
	if len(v) < 4+addrLen {
		return netip.AddrPort{}, errShortAddressAttr
	}
	port := binary.BigEndian.Uint16(v[2:4])
	var ip [16]byte
	copy(ip[:], v[4:4+addrLen])
	if xorKey != nil {
		port ^= uint16(magicCookie >> 16)
		for i := range addrLen {
			ip[i] ^= xorKey[i]
		}
	}
	addr, _ := netip.AddrFromSlice(ip[:addrLen])
	return netip.AddrPortFrom(addr.Unmap(), port), nil
}
