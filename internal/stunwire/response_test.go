package stunwire

import (
	"encoding/hex"
	"errors"
	"net/netip"
	"testing"
)

func TestTailscaleRequestBytes(t *testing.T) {
	got := TailscaleRequest(testTxID)
	// 00 01 | 00 14 | cookie | txid | 80 22 00 08 "tailnode" | 80 28 00 04 crc
	const wantPrefix = "000100142112a442" + "0102030405060708090a0b0c" + "80220008" + "7461696c6e6f6465" + "80280004"
	if len(got) != 40 || hex.EncodeToString(got[:36]) != wantPrefix {
		t.Fatalf("request = %x, want %s + crc", got, wantPrefix)
	}
	if _, ok := parseBindingRequest(got); !ok {
		t.Error("our own request does not pass derper's checks")
	}
}

func TestParseResponse(t *testing.T) {
	const (
		header   = "2112a442" + "0102030405060708090a0b0c"
		xorV4    = "0001bd52" + "5e12a443"                              // 127.0.0.1:40000, XORed
		plainV4  = "00019c40" + "c0000207"                              // 192.0.2.7:40000
		xorV6    = "0002bd52" + "2112a442" + "0102030405060708090a0b0d" // [::1]:40000
		xorV4Map = "0002bd52" + "2112a442" + "010203040506f8f7760a0b0d" // [::ffff:127.0.0.1]:40000
	)
	tests := []struct {
		name    string
		msg     string
		want    string
		wantErr error
	}{
		{name: "xor_mapped_v4", msg: "0101000c" + header + "00200008" + xorV4, want: "127.0.0.1:40000"},
		{name: "xor_mapped_alt_type", msg: "0101000c" + header + "80200008" + xorV4, want: "127.0.0.1:40000"},
		{name: "mapped_address_fallback", msg: "0101000c" + header + "00010008" + plainV4, want: "192.0.2.7:40000"},
		{name: "xor_preferred_over_mapped", msg: "01010018" + header + "00010008" + plainV4 + "00200008" + xorV4, want: "127.0.0.1:40000"},
		{name: "xor_mapped_v6", msg: "01010018" + header + "00200014" + xorV6, want: "[::1]:40000"},
		{name: "v4_mapped_unmapped", msg: "01010018" + header + "00200014" + xorV4Map, want: "127.0.0.1:40000"},
		{name: "trailing_bytes_ignored", msg: "0101000c" + header + "00200008" + xorV4 + "deadbeef", want: "127.0.0.1:40000"},
		{name: "unknown_attrs_skipped", msg: "01010014" + header + "80220003" + "61626300" + "00200008" + xorV4, want: "127.0.0.1:40000"},
		{name: "not_stun", msg: "0101000c" + "00000000" + "0102030405060708090a0b0c", wantErr: ErrNotSTUN},
		{name: "short", msg: "0101000c2112a442", wantErr: ErrNotSTUN},
		{name: "request_not_response", msg: "00010000" + header, wantErr: ErrNotBindingSuccess},
		{name: "error_response", msg: "01110000" + header, wantErr: ErrNotBindingSuccess},
		{name: "length_beyond_packet", msg: "01010010" + header + "00200008" + xorV4, wantErr: ErrMalformedAttrs},
		{name: "attr_beyond_length", msg: "01010008" + header + "00200008" + xorV4, wantErr: ErrMalformedAttrs},
		{name: "no_address", msg: "01010000" + header, wantErr: ErrNoMappedAddress},
		{name: "bad_family", msg: "0101000c" + header + "00200008" + "0003bd52" + "5e12a443", wantErr: errUnknownAddrFamily},
		{name: "short_v6_value", msg: "0101000c" + header + "00200008" + "0002bd52" + "5e12a443", wantErr: errShortAddressAttr},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			txID, addr, err := ParseResponse(mustHex(t, tt.msg))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if txID != testTxID {
				t.Errorf("txID = %x, want %x", txID, testTxID)
			}
			if want := netip.MustParseAddrPort(tt.want); addr != want {
				t.Errorf("addr = %v, want %v", addr, want)
			}
		})
	}
}
