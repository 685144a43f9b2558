// Package fakegateway plays a home router's port-mapping services for
// tests: a NAT-PMP and PCP server (RFC 6886, RFC 6887) answering the
// requests a client sends to discover them, and an SSDP responder that
// announces an Internet Gateway Device. It answers discovery only; it maps
// no ports.
package fakegateway

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"time"
)

// Services says which protocols the gateway offers and how it answers.
type Services struct {
	PMP bool
	PCP bool
	// PCPResult is the result code of PCP answers (0: success; 2: not
	// authorized, a PCP server that refuses).
	PCPResult byte
	// PublicIP is what NAT-PMP reports as the external address.
	PublicIP netip.Addr
}

// ServePXP answers NAT-PMP external-address requests and PCP ANNOUNCE
// requests on conn (port 5351 on a real gateway) until conn is closed.
func ServePXP(conn *net.UDPConn, s Services) {
	start := time.Now()
	serveUDP(conn, func(req []byte) []byte {
		epoch := uint32(time.Since(start)/time.Second) + 1
		switch {
		case s.PMP && len(req) == 2 && req[0] == 0 && req[1] == 0:
			// version 0, opcode 0x80, result 0, epoch, IPv4
			resp := make([]byte, 12)
			resp[1] = 0x80
			binary.BigEndian.PutUint32(resp[4:], epoch)
			ip := s.PublicIP.As4()
			copy(resp[8:], ip[:])
			return resp
		case s.PCP && len(req) >= 24 && req[0] == 2 && req[1] == 0:
			// version 2, opcode 0x80, reserved, result, lifetime 0,
			// epoch, 12 reserved bytes
			resp := make([]byte, 24)
			resp[0], resp[1], resp[3] = 2, 0x80, s.PCPResult
			binary.BigEndian.PutUint32(resp[8:], epoch)
			return resp
		}
		return nil
	})
}

// ServeSSDP answers every M-SEARCH on conn (port 1900) with an Internet
// Gateway Device whose description is at location, until conn is closed.
func ServeSSDP(conn *net.UDPConn, location string) {
	const st = "urn:schemas-upnp-org:device:InternetGatewayDevice:1"
	resp := []byte("HTTP/1.1 200 OK\r\n" +
		"CACHE-CONTROL: max-age=120\r\n" +
		"ST: " + st + "\r\n" +
		"USN: uuid:00000000-0000-0000-0000-000000000001::" + st + "\r\n" +
		"EXT:\r\n" +
		"SERVER: fakegateway UPnP/1.1\r\n" +
		"LOCATION: " + location + "\r\n\r\n")
	serveUDP(conn, func(req []byte) []byte {
		if !bytes.HasPrefix(req, []byte("M-SEARCH ")) {
			return nil
		}
		return resp
	})
}

// serveUDP sends answer's reply (none when nil) to every datagram on conn
// until conn is closed.
func serveUDP(conn *net.UDPConn, answer func(req []byte) []byte) {
	buf := make([]byte, 1500)
	for {
		n, from, err := conn.ReadFromUDPAddrPort(buf)
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			continue
		}
		if resp := answer(buf[:n]); resp != nil {
			conn.WriteToUDPAddrPort(resp, from)
		}
	}
}
