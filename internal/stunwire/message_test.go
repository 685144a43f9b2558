package stunwire

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"net/netip"
	"testing"

	"github.com/pion/stun/v2"
)

var testTxID = [12]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}

// refingerprint returns msg with its final FINGERPRINT value recomputed.
func refingerprint(msg []byte) []byte {
	out := bytes.Clone(msg)
	binary.BigEndian.PutUint32(out[len(out)-4:], fingerprint(out[:len(out)-fingerprintAttrLen]))
	return out
}

// rfcRequest builds a plain RFC 5389 binding request with pion.
func rfcRequest(t testing.TB, setters ...stun.Setter) *stun.Message {
	t.Helper()
	m, err := stun.Build(append([]stun.Setter{stun.NewTransactionIDSetter(testTxID), stun.BindingRequest}, setters...)...)
	if err != nil {
		t.Fatalf("build RFC 5389 request: %v", err)
	}
	return m
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAppendReplyTailscaleExactBytes(t *testing.T) {
	const txid = "0102030405060708090a0b0c"
	tests := []struct {
		name   string
		client netip.AddrPort
		want   string
	}{{
		name:   "ipv4",
		client: netip.MustParseAddrPort("127.0.0.1:40000"),
		// port 40000=0x9c40 ^ 0x2112 = 0xbd52; 7f000001 ^ 2112a442 = 5e12a443
		want: "0101000c2112a442" + txid + "00200008" + "0001bd52" + "5e12a443",
	}, {
		name:   "ipv4_mapped_is_unmapped",
		client: netip.MustParseAddrPort("[::ffff:127.0.0.1]:40000"),
		want:   "0101000c2112a442" + txid + "00200008" + "0001bd52" + "5e12a443",
	}, {
		name:   "ipv6",
		client: netip.MustParseAddrPort("[::1]:40000"),
		// ::1 XOR cookie‖txid: only the last byte differs from the key.
		want: "010100182112a442" + txid + "00200014" + "0002bd52" + "2112a442" + "0102030405060708090a0b0d",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := AppendReply(nil, TailscaleRequest(testTxID), tt.client)
			if !ok {
				t.Fatal("Tailscale request got no reply")
			}
			if want := mustHex(t, tt.want); !bytes.Equal(got, want) {
				t.Errorf("reply\n got %x\nwant %x", got, want)
			}
		})
	}
}

func TestParseBindingRequest(t *testing.T) {
	ts := TailscaleRequest(testTxID)

	tsWrongType := bytes.Clone(ts)
	tsWrongType[1] = 0x11 // 0x0011 is not Binding Request
	tsBadLengthField := bytes.Clone(ts)
	tsBadLengthField[3] = 0x40 // derper ignores the length field
	tsBadLengthField = refingerprint(tsBadLengthField)
	tsFlippedFingerprint := bytes.Clone(ts)
	tsFlippedFingerprint[len(ts)-1] ^= 1
	tsOtherSoftware := bytes.Clone(ts)
	copy(tsOtherSoftware[24:32], "tailnodX")
	tsOtherSoftware = refingerprint(tsOtherSoftware)
	tsFingerprintNotLast := append(bytes.Clone(ts), 0x80, 0x22, 0x00, 0x00) // empty SOFTWARE after FINGERPRINT
	tsNoFingerprint := ts[:32]
	tsTopBits := refingerprint(append([]byte{0x40}, ts[1:]...))
	tsNoCookie := bytes.Clone(ts)
	tsNoCookie[4] = 0

	rfcPlain := rfcRequest(t).Raw
	rfcFP := rfcRequest(t, stun.NewSoftware("pion"), stun.Fingerprint).Raw
	rfcBadFP := bytes.Clone(rfcFP)
	rfcBadFP[len(rfcBadFP)-1] ^= 0xff
	rfcRequired := rfcRequest(t, stun.NewUsername("alice")).Raw
	rfcTrailing := append(bytes.Clone(rfcPlain), 0, 0, 0, 0) // length field says 0
	rfcTruncatedAttr := append(bytes.Clone(rfcPlain), 0x80, 0x22, 0x00, 0x08, 't', 'a')
	rfcTruncatedAttr[3] = byte(len(rfcTruncatedAttr) - headerLen)
	rfcTwoFP := rfcRequest(t, stun.Fingerprint).Raw
	rfcTwoFP = append(rfcTwoFP, rfcTwoFP[headerLen:]...)
	binary.BigEndian.PutUint16(rfcTwoFP[2:4], uint16(len(rfcTwoFP)-headerLen))
	rfcTwoFP = refingerprint(rfcTwoFP)
	rfcBindingIndication := rfcRequest(t).Raw
	rfcBindingIndication[1] = 0x11

	tests := []struct {
		name   string
		req    []byte
		want   bool
		wantTS bool
		wantFP bool
	}{
		{name: "tailscale", req: ts, want: true, wantTS: true},
		{name: "tailscale_length_field_ignored", req: tsBadLengthField, want: true, wantTS: true},
		{name: "tailscale_wrong_type", req: tsWrongType},
		{name: "tailscale_bad_fingerprint", req: tsFlippedFingerprint},
		{name: "tailscale_fingerprint_not_last", req: tsFingerprintNotLast},
		{name: "tailscale_no_fingerprint", req: tsNoFingerprint},
		{name: "tailscale_top_bits_set", req: tsTopBits},
		{name: "tailscale_no_cookie", req: tsNoCookie},
		{name: "other_software_is_plain_rfc", req: tsOtherSoftware, want: true, wantFP: true},
		{name: "rfc_no_attributes", req: rfcPlain, want: true},
		{name: "rfc_fingerprint", req: rfcFP, want: true, wantFP: true},
		{name: "rfc_bad_fingerprint", req: rfcBadFP},
		{name: "rfc_comprehension_required_attr", req: rfcRequired},
		{name: "rfc_length_field_mismatch", req: rfcTrailing},
		{name: "rfc_truncated_attr", req: rfcTruncatedAttr},
		{name: "rfc_two_fingerprints", req: rfcTwoFP},
		{name: "binding_indication", req: rfcBindingIndication},
		{name: "header_only_truncated", req: ts[:19]},
		{name: "truncated_mid_attr", req: ts[:30]},
		{name: "empty", req: nil},
		{name: "garbage", req: []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, ok := parseBindingRequest(tt.req)
			if ok != tt.want {
				t.Fatalf("answered = %v, want %v", ok, tt.want)
			}
			if !ok {
				return
			}
			if r.txID != testTxID || r.tailscale != tt.wantTS || r.withFingerprint != tt.wantFP {
				t.Errorf("got %+v, want txID %x tailscale=%v withFingerprint=%v", r, testTxID, tt.wantTS, tt.wantFP)
			}
		})
	}
}

func TestAppendReplyRFC5389DecodedByPion(t *testing.T) {
	tests := []struct {
		name    string
		setters []stun.Setter
		client  netip.AddrPort
		wantFP  bool
		wantLen int
	}{
		{name: "ipv4", client: netip.MustParseAddrPort("192.0.2.7:3478"), wantLen: 32},
		{name: "ipv4_fingerprint", setters: []stun.Setter{stun.Fingerprint}, client: netip.MustParseAddrPort("192.0.2.7:1"), wantFP: true, wantLen: 40},
		{name: "ipv6_fingerprint", setters: []stun.Setter{stun.NewSoftware("x"), stun.Fingerprint}, client: netip.MustParseAddrPort("[2001:db8::1]:65535"), wantFP: true, wantLen: 52},
		{name: "ipv6", client: netip.MustParseAddrPort("[fe80::1%lo]:9"), wantLen: 44},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := rfcRequest(t, tt.setters...)
			reply, ok := AppendReply(nil, req.Raw, tt.client)
			if !ok {
				t.Fatal("RFC 5389 request got no reply")
			}
			if len(reply) != tt.wantLen {
				t.Errorf("reply is %d bytes, want %d", len(reply), tt.wantLen)
			}
			checkPionReply(t, reply, req.TransactionID, tt.client, tt.wantFP)
		})
	}
}

// checkPionReply decodes reply with pion and checks it answers txID with
// client's address, with a valid FINGERPRINT exactly when wantFP.
func checkPionReply(t testing.TB, reply []byte, txID [stun.TransactionIDSize]byte, client netip.AddrPort, wantFP bool) {
	t.Helper()
	res := &stun.Message{Raw: bytes.Clone(reply)}
	if err := res.Decode(); err != nil {
		t.Fatalf("pion cannot decode reply %x: %v", reply, err)
	}
	if res.Type != stun.BindingSuccess || res.TransactionID != txID {
		t.Errorf("reply is %v txid %x, want binding success txid %x", res.Type, res.TransactionID, txID)
	}
	var xa stun.XORMappedAddress
	if err := xa.GetFrom(res); err != nil {
		t.Fatalf("XOR-MAPPED-ADDRESS: %v", err)
	}
	got, _ := netip.AddrFromSlice(xa.IP)
	if want := client.Addr().Unmap().WithZone(""); got.Unmap() != want || xa.Port != int(client.Port()) {
		t.Errorf("XOR-MAPPED-ADDRESS = %v:%d, want %v:%d", got, xa.Port, want, client.Port())
	}
	if got := res.Contains(stun.AttrFingerprint); got != wantFP {
		t.Errorf("reply has FINGERPRINT = %v, want %v", got, wantFP)
	}
	if wantFP {
		if err := stun.Fingerprint.Check(res); err != nil {
			t.Errorf("reply FINGERPRINT: %v", err)
		}
	}
	if res.Contains(stun.AttrSoftware) {
		t.Error("reply carries SOFTWARE")
	}
}

func TestAppendReplyDoesNotAllocate(t *testing.T) {
	buf := make([]byte, 0, MaxReplyLen)
	client := netip.MustParseAddrPort("[2001:db8::1]:41641")
	for _, req := range [][]byte{TailscaleRequest(testTxID), rfcRequest(t, stun.Fingerprint).Raw} {
		allocs := testing.AllocsPerRun(100, func() {
			if _, ok := AppendReply(buf[:0], req, client); !ok {
				t.Fatal("no reply")
			}
		})
		if allocs != 0 {
			t.Errorf("AppendReply allocates %.1f times per request", allocs)
		}
	}
}

func BenchmarkAppendReply(b *testing.B) {
	buf := make([]byte, 0, MaxReplyLen)
	req := TailscaleRequest(testTxID)
	client := netip.MustParseAddrPort("198.51.100.4:41641")
	b.ReportAllocs()
	for b.Loop() {
		AppendReply(buf[:0], req, client)
	}
}
