package stunwire

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/pion/stun/v2"
)

// FuzzAppendReply feeds arbitrary datagrams from arbitrary clients to the
// request handling. Seeds live in testdata/fuzz/FuzzAppendReply.
func FuzzAppendReply(f *testing.F) {
	f.Fuzz(func(t *testing.T, req, clientIP []byte, clientPort uint16) {
		ip, ok := netip.AddrFromSlice(clientIP)
		if !ok {
			ip = netip.MustParseAddr("127.0.0.1")
		}
		client := netip.AddrPortFrom(ip, clientPort)
		reqCopy := bytes.Clone(req)

		reply, answered := AppendReply(make([]byte, 0, MaxReplyLen), req, client)
		if !bytes.Equal(req, reqCopy) {
			t.Fatal("handling modified the request")
		}
		if !answered {
			if len(reply) != 0 {
				t.Fatalf("dropped request left %d reply bytes", len(reply))
			}
			return
		}

		if !isSTUN(req) || binary.BigEndian.Uint16(req) != typeBindingRequest {
			t.Fatalf("answered a datagram that is not a binding request: %x", req)
		}
		switch len(reply) {
		case 32, 44, 40, 52:
		default:
			t.Fatalf("reply is %d bytes: %x", len(reply), reply)
		}
		if cap(reply) != MaxReplyLen {
			t.Fatalf("reply outgrew its %d-byte buffer", MaxReplyLen)
		}
		txID, mapped, err := ParseResponse(reply)
		if err != nil {
			t.Fatalf("our reply %x does not parse: %v", reply, err)
		}
		if !bytes.Equal(txID[:], req[8:20]) {
			t.Fatalf("reply txid %x, request txid %x", txID, req[8:20])
		}
		if want := netip.AddrPortFrom(ip.Unmap(), clientPort); mapped != want {
			t.Fatalf("reply maps %v, want %v", mapped, want)
		}
		res := &stun.Message{Raw: bytes.Clone(reply)}
		if err := res.Decode(); err != nil {
			t.Fatalf("pion cannot decode our reply %x: %v", reply, err)
		}
		if res.Contains(stun.AttrFingerprint) {
			if err := stun.Fingerprint.Check(res); err != nil {
				t.Fatalf("reply FINGERPRINT: %v", err)
			}
		}
		// A server must never answer a reply, or two of them could be made
		// to bounce packets between each other.
		if _, again := AppendReply(nil, reply, client); again {
			t.Fatal("the server answers its own reply")
		}
	})
}
