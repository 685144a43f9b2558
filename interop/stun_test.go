package interop

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"tailscale.com/net/stun"
)

const (
	stunTries        = 5
	stunReplyTimeout = time.Second
	stunMagicCookie  = 0x2112A442
	attrXorMapped    = 0x0020
)

// dialSTUN opens a UDP socket to the server's STUN port. Its local address
// is what the server must report back.
func dialSTUN(t *testing.T, s *server) (*net.UDPConn, netip.AddrPort) {
	t.Helper()
	raddr, err := net.ResolveUDPAddr("udp", s.stunAddr)
	if err != nil {
		t.Fatal(err)
	}
	uc, err := net.DialUDP("udp", nil, raddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { uc.Close() })
	return uc, uc.LocalAddr().(*net.UDPAddr).AddrPort()
}

// testSTUNTailscale: the 48-byte request Tailscale clients send is answered
// with an XOR-MAPPED-ADDRESS equal to the client's 127.0.0.1:port.
func testSTUNTailscale(t *testing.T, k serverKind) {
	s := startServer(t, k)
	uc, self := dialSTUN(t, s)
	var tx stun.TxID
	stunRounds(t, uc, func() [][]byte {
		tx = stun.NewTxID()
		return [][]byte{stun.Request(tx)}
	}, func(resp []byte) bool {
		gotTx, addr, err := stun.ParseResponse(resp)
		if err != nil {
			t.Fatalf("stun.ParseResponse(%x): %v", resp, err)
		}
		if gotTx != tx {
			return false // a late reply to an earlier round
		}
		if addr != self {
			t.Errorf("mapped address %v, want %v", addr, self)
		}
		if xa, err := xorMappedAddress(resp); err != nil || xa != self {
			t.Errorf("XOR-MAPPED-ADDRESS (0x0020) = %v, %v; want %v", xa, err, self)
		}
		return true
	})
}

// stunRounds writes round's requests and reads one reply, which reply
// judges, until reply says the test is settled. The STUN socket may be
// bound a moment after /derp/probe answers, and UDP may drop: a round
// without a reply is repeated, up to stunTries.
func stunRounds(t *testing.T, uc *net.UDPConn, round func() [][]byte, reply func(resp []byte) (settled bool)) {
	t.Helper()
	for try := 1; ; try++ {
		for _, req := range round() {
			if _, err := uc.Write(req); err != nil {
				t.Fatal(err)
			}
		}
		resp, err := readSTUN(uc, stunReplyTimeout)
		if err != nil {
			if try < stunTries {
				continue
			}
			t.Fatalf("no STUN reply after %d tries: %v", stunTries, err)
		}
		if reply(resp) {
			return
		}
	}
}

// testSTUNPlainRFC5389 sends a bare RFC 5389 binding request (no SOFTWARE
// "tailnode", no FINGERPRINT) followed by a Tailscale one. Both servers
// handle datagrams from one socket in order, so the first reply shows
// whether the plain request was answered.
func testSTUNPlainRFC5389(t *testing.T, k serverKind) {
	// derper answers only Tailscale's requests (spec §5, observed A.2);
	// relayctl deliberately also answers generic clients (cli.md, serve).
	wantPlainAnswered := map[serverKind]bool{derperServer: false, relayctlServer: true}[k]

	s := startServer(t, k)
	uc, self := dialSTUN(t, s)
	var plainTx, tsTx stun.TxID
	stunRounds(t, uc, func() [][]byte {
		plainTx, tsTx = stun.NewTxID(), stun.NewTxID()
		return [][]byte{plainBindingRequest(plainTx), stun.Request(tsTx)}
	}, func(resp []byte) bool {
		if len(resp) < 20 {
			t.Fatalf("short STUN reply %x", resp)
		}
		var gotTx stun.TxID
		copy(gotTx[:], resp[8:20])
		switch gotTx {
		case plainTx:
			if !wantPlainAnswered {
				t.Fatalf("%s answered a plain RFC 5389 request: %x", k, resp)
			}
			if resp[0] != 0x01 || resp[1] != 0x01 {
				t.Fatalf("reply type %#04x, want Binding Success 0x0101", binary.BigEndian.Uint16(resp))
			}
			if xa, err := xorMappedAddress(resp); err != nil || xa != self {
				t.Fatalf("XOR-MAPPED-ADDRESS = %v, %v; want %v", xa, err, self)
			}
			return true
		case tsTx:
			if wantPlainAnswered {
				t.Fatalf("%s answered the Tailscale request but not the plain RFC 5389 one before it", k)
			}
			return true
		}
		return false // a late reply to an earlier round
	})
}

// plainBindingRequest is the minimal RFC 5389 Binding Request: a 20-byte
// header with no attributes.
func plainBindingRequest(tx stun.TxID) []byte {
	b := binary.BigEndian.AppendUint16(nil, 0x0001) // Binding Request
	b = binary.BigEndian.AppendUint16(b, 0)         // attributes length
	b = binary.BigEndian.AppendUint32(b, stunMagicCookie)
	return append(b, tx[:]...)
}

func readSTUN(uc *net.UDPConn, timeout time.Duration) ([]byte, error) {
	buf := make([]byte, 1500)
	uc.SetReadDeadline(time.Now().Add(timeout))
	n, err := uc.Read(buf)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return nil, fmt.Errorf("no reply within %v", timeout)
	}
	return buf[:n], err
}

// xorMappedAddress decodes the IPv4 XOR-MAPPED-ADDRESS attribute (0x0020)
// of a STUN message by hand:
//
//	type(2) len(2) | 0x00 family(1) port^0x2112(2) addr^cookie(4)
func xorMappedAddress(msg []byte) (netip.AddrPort, error) {
	if len(msg) < 20 || binary.BigEndian.Uint32(msg[4:8]) != stunMagicCookie {
		return netip.AddrPort{}, fmt.Errorf("not a STUN message: %x", msg)
	}
	attrs := msg[20:]
	if n := int(binary.BigEndian.Uint16(msg[2:4])); n <= len(attrs) {
		attrs = attrs[:n]
	}
	for len(attrs) >= 4 {
		typ, n := binary.BigEndian.Uint16(attrs), int(binary.BigEndian.Uint16(attrs[2:]))
		if 4+n > len(attrs) {
			break
		}
		v := attrs[4 : 4+n]
		if typ == attrXorMapped {
			if n != 8 || v[1] != 0x01 {
				return netip.AddrPort{}, fmt.Errorf("XOR-MAPPED-ADDRESS %x is not IPv4", v)
			}
			port := binary.BigEndian.Uint16(v[2:]) ^ uint16(stunMagicCookie>>16)
			var ip [4]byte
			binary.BigEndian.PutUint32(ip[:], binary.BigEndian.Uint32(v[4:])^stunMagicCookie)
			return netip.AddrPortFrom(netip.AddrFrom4(ip), port), nil
		}
		attrs = attrs[4+(n+3)&^3:]
	}
	return netip.AddrPort{}, errors.New("no XOR-MAPPED-ADDRESS attribute")
}
