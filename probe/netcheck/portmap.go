package netcheck

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"time"
)

// Port-mapping discovery, as Tailscale's portmapper probes: one UDP socket
// sends a NAT-PMP external-address request and a PCP ANNOUNCE to the
// gateway's port 5351, and SSDP M-SEARCH queries to the gateway's port 1900
// (unicast first, so that a host firewall expects the router's answer) and
// to the SSDP multicast group; then it listens for 250 ms, or 50 ms past the
// first answer once all three have answered.
const (
	portMapTimeout = 250 * time.Millisecond
	portMapSettle  = 50 * time.Millisecond
	pxpPort        = 5351 // NAT-PMP and PCP
	ssdpPort       = 1900
)

var ssdpGroup = netip.AddrFrom4([4]byte{239, 255, 255, 250})

// portMapPorts moves the probe's destinations and stretches its wait
// (tests, where a loaded machine may answer late).
type portMapPorts struct {
	pxp, ssdp uint16
	group     netip.Addr
	timeout   time.Duration
}

// NAT-PMP (RFC 6886) and PCP (RFC 6887) bytes.
const (
	pmpVersion      = 0
	pcpVersion      = 2
	pxpOpReply      = 0x80 // OR'd into the request's opcode in a response
	pmpOpPublicAddr = 0
	pcpOpAnnounce   = 0
	pcpAnnounceLen  = 24 // the common request header, no opcode data
	pmpPublicLen    = 12 // version, opcode, result(2), epoch(4), IPv4(4)
)

// PCP result codes that still say a PCP server is there.
const (
	pcpResultOK              = 0
	pcpResultNotAuthorized   = 2
	pcpResultAddressMismatch = 12
)

// ssdpQuery is an M-SEARCH for st. MX 2 as Tailscale sends it; replies come
// much sooner from a router.
func ssdpQuery(st string) []byte {
	return []byte("M-SEARCH * HTTP/1.1\r\n" +
		"HOST: 239.255.255.250:1900\r\n" +
		"ST: " + st + "\r\n" +
		"MAN: \"ssdp:discover\"\r\n" +
		"MX: 2\r\n\r\n")
}

// igdMarker is in every answer from an Internet Gateway Device; other
// UPnP devices (printers, TVs) answer ssdp:all too and do not count.
var igdMarker = []byte(":InternetGatewayDevice:")

// pcpAnnounce is a PCP ANNOUNCE request from client: version 2, opcode 0,
// lifetime 0, the client's address as 16 bytes (IPv4-mapped).
func pcpAnnounce(client netip.Addr) []byte {
	pkt := make([]byte, pcpAnnounceLen)
	pkt[0] = pcpVersion
	pkt[1] = pcpOpAnnounce
	ip16 := client.As16()
	copy(pkt[8:], ip16[:])
	return pkt
}

// portMapFound is what the gateway offers.
type portMapFound struct {
	UPnP, PMP, PCP bool
	pcpHeard       bool // a PCP server answered, even refusing
}

func (f portMapFound) complete() bool { return f.pcpHeard && f.PMP && f.UPnP }

// readPXP reads one packet from port 5351: PCP when it carries version 2,
// NAT-PMP when version 0. detail says what it was, for verbose output.
func (f *portMapFound) readPXP(pkt []byte) (detail string) {
	switch {
	case len(pkt) >= pcpAnnounceLen && pkt[0] == pcpVersion:
		if pkt[1] != pxpOpReply|pcpOpAnnounce {
			return fmt.Sprintf("PCP answer with opcode %#x, want ANNOUNCE", pkt[1])
		}
		f.pcpHeard = true
		switch code := pkt[3]; code {
		case pcpResultOK:
			f.PCP = true
			return "PCP: announce answered"
		case pcpResultNotAuthorized, pcpResultAddressMismatch:
			return fmt.Sprintf("PCP: server refuses (result %d)", code)
		default:
			return fmt.Sprintf("PCP: result %d", code)
		}
	case len(pkt) >= 2 && pkt[0] == pmpVersion:
		if pkt[1] != pxpOpReply|pmpOpPublicAddr || len(pkt) != pmpPublicLen {
			return fmt.Sprintf("NAT-PMP answer with opcode %#x and %d bytes, want a public-address reply", pkt[1], len(pkt))
		}
		if code := binary.BigEndian.Uint16(pkt[2:]); code != 0 {
			return fmt.Sprintf("NAT-PMP: result %d", code)
		}
		f.PMP = true
		return fmt.Sprintf("NAT-PMP: public address %s", netip.AddrFrom4([4]byte(pkt[8:12])))
	}
	return fmt.Sprintf("unrecognised %d-byte answer on the NAT-PMP/PCP port", len(pkt))
}

// readSSDP reads one SSDP answer: an HTTP response naming an IGD.
func (f *portMapFound) readSSDP(pkt []byte) (detail string) {
	if !bytes.Contains(pkt, igdMarker) {
		return "SSDP answer from a device that is not an Internet gateway"
	}
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(pkt)), nil)
	if err != nil {
		return fmt.Sprintf("SSDP answer is not an HTTP response: %v", err)
	}
	resp.Body.Close()
	f.UPnP = true
	return fmt.Sprintf("UPnP IGD at %s (%s)", resp.Header.Get("Location"), resp.Header.Get("Server"))
}

// runPortMap probes the default gateway and sets UPnP, PMP and PCP. They
// stay null when there is no gateway to ask.
func (nc *netchecker) runPortMap(ctx context.Context) {
	gwFunc := nc.opts.DefaultGateway
	if gwFunc == nil {
		gwFunc = DefaultGateway
	}
	gw, self, err := gwFunc()
	if err != nil {
		nc.emit(Event{Method: MethodPortMap, Err: fmt.Errorf("not checked: %w", err)})
		return
	}
	found, err := nc.probePortMap(ctx, gw, self)
	if err != nil {
		nc.emit(Event{Method: MethodPortMap, Target: gw.String(), Err: err})
		return
	}
	nc.mu.Lock()
	nc.rep.UPnP, nc.rep.PMP, nc.rep.PCP = new(found.UPnP), new(found.PMP), new(found.PCP)
	nc.mu.Unlock()
}

func (nc *netchecker) probePortMap(ctx context.Context, gw, self netip.Addr) (portMapFound, error) {
	var found portMapFound
	pxp, ssdp, group, timeout := uint16(pxpPort), uint16(ssdpPort), ssdpGroup, portMapTimeout
	if t := nc.opts.portMapPorts; t != nil {
		pxp, ssdp, group, timeout = t.pxp, t.ssdp, t.group, t.timeout
	}
	conn, err := net.ListenUDP("udp4", nil)
	if err != nil {
		return found, fmt.Errorf("port mapping: %w", err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { conn.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()

	pxpAddr := netip.AddrPortFrom(gw, pxp)
	ssdpAddr := netip.AddrPortFrom(gw, ssdp)
	sends := []struct {
		pkt []byte
		to  netip.AddrPort
	}{
		{[]byte{pmpVersion, pmpOpPublicAddr}, pxpAddr},
		{pcpAnnounce(self), pxpAddr},
		{ssdpQuery("ssdp:all"), ssdpAddr},
		{ssdpQuery("ssdp:all"), netip.AddrPortFrom(group, ssdp)},
		// Some devices answer ssdp:all with their first descriptor only.
		{ssdpQuery("urn:schemas-upnp-org:device:InternetGatewayDevice:1"), netip.AddrPortFrom(group, ssdp)},
	}
	for _, s := range sends {
		// A failed send (no route to the group, say) only means no answer.
		conn.WriteToUDPAddrPort(s.pkt, s.to)
	}

	// settleAt is portMapSettle past the first answer: once every
	// protocol has answered, more UPnP devices may still; wait that long.
	var settleAt time.Time
	buf := make([]byte, 1500)
	for {
		if found.complete() && ctx.Err() == nil {
			conn.SetReadDeadline(settleAt)
		}
		n, from, err := conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if ctx.Err() != nil || found.complete() && !time.Now().Before(settleAt) {
				return found, nil
			}
			if errors.Is(err, net.ErrClosed) {
				return found, err
			}
			continue // ICMP unreachable from a port with no server
		}
		if settleAt.IsZero() {
			settleAt = time.Now().Add(portMapSettle)
		}
		var detail string
		switch {
		case from.Port() == pxp:
			detail = found.readPXP(buf[:n])
		case from.Port() == ssdp || bytes.Contains(buf[:n], igdMarker):
			// Some routers answer SSDP from another port.
			detail = found.readSSDP(buf[:n])
		default:
			continue
		}
		nc.emit(Event{Method: MethodPortMap, Target: from.String(), Detail: detail})
	}
}
