package netcheck

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/relayctl/relayctl/internal/fakegateway"
	"github.com/relayctl/relayctl/probe/internal/probetest"
)

// TestNetcheckPortMapping probes a gateway on loopback offering some of
// NAT-PMP, PCP and UPnP.
func TestNetcheckPortMapping(t *testing.T) {
	t.Parallel()
	stunPort := slowSTUN(t, 0)
	loopback := netip.MustParseAddr("127.0.0.1")
	tests := []struct {
		name           string
		pxp            *fakegateway.Services // nil: nothing on the NAT-PMP/PCP port
		ssdp           string                // "igd", "other" or "" (nothing)
		noGateway      bool
		upnp, pmp, pcp *bool
	}{
		{"all_three", &fakegateway.Services{PMP: true, PCP: true, PublicIP: netip.MustParseAddr("203.0.113.7")}, "igd", false, new(true), new(true), new(true)},
		{"pmp_only", &fakegateway.Services{PMP: true, PublicIP: netip.MustParseAddr("203.0.113.7")}, "", false, new(false), new(true), new(false)},
		{"pcp_refuses", &fakegateway.Services{PCP: true, PCPResult: 2}, "", false, new(false), new(false), new(false)},
		{"upnp_not_a_gateway", nil, "other", false, new(false), new(false), new(false)},
		{"upnp_only", nil, "igd", false, new(true), new(false), new(false)},
		{"nothing_answers", nil, "", false, new(false), new(false), new(false)},
		{"no_gateway", nil, "", true, nil, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pxp := listenUDP(t)
			if tc.pxp != nil {
				go fakegateway.ServePXP(pxp, *tc.pxp)
			}
			ssdp := listenUDP(t)
			switch tc.ssdp {
			case "igd":
				go fakegateway.ServeSSDP(ssdp, "http://127.0.0.1:5000/rootDesc.xml")
			case "other":
				go serveNonGatewaySSDP(ssdp)
			}
			// A wait long enough for a loaded test machine; all three
			// answering ends it early.
			ports := &portMapPorts{pxp: udpPort(pxp), ssdp: udpPort(ssdp), group: loopback, timeout: 2 * time.Second}
			if tc.pxp == nil {
				pxp.Close() // closed: the requests meet port unreachable
			}
			gw := func() (netip.Addr, netip.Addr, error) { return loopback, loopback, nil }
			if tc.noGateway {
				gw = func() (netip.Addr, netip.Addr, error) { return netip.Addr{}, netip.Addr{}, errNoGateway }
			}
			var events []Event
			rep, err := Run(t.Context(), probetest.OneRegionMap(900, "home", stunOnlyNode("900a", 900, stunPort)), Options{
				BindV4: "127.0.0.1:0", STUNTimeout: time.Second, DefaultGateway: gw, portMapPorts: ports,
				OnEvent: func(ev Event) { events = append(events, ev) },
			})
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range []struct {
				name      string
				got, want *bool
			}{{"UPnP", rep.UPnP, tc.upnp}, {"PMP", rep.PMP, tc.pmp}, {"PCP", rep.PCP, tc.pcp}} {
				if fmtOptBool(f.got) != fmtOptBool(f.want) {
					t.Errorf("%s = %s, want %s (events %+v)", f.name, fmtOptBool(f.got), fmtOptBool(f.want), events)
				}
			}
			if tc.noGateway {
				var said bool
				for _, ev := range events {
					said = said || ev.Method == MethodPortMap && ev.Err != nil && strings.Contains(ev.Err.Error(), "not checked")
				}
				if !said {
					t.Errorf("no portmap event saying why it was not checked: %+v", events)
				}
			}
		})
	}
}

func listenUDP(t *testing.T) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func udpPort(c *net.UDPConn) uint16 { return uint16(c.LocalAddr().(*net.UDPAddr).Port) }

// serveNonGatewaySSDP answers M-SEARCH as a media player would.
func serveNonGatewaySSDP(c *net.UDPConn) {
	buf := make([]byte, 1500)
	for {
		_, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		c.WriteToUDPAddrPort([]byte("HTTP/1.1 200 OK\r\nST: urn:dial-multiscreen-org:service:dial:1\r\nLOCATION: http://127.0.0.1:8008/dd.xml\r\n\r\n"), from)
	}
}

func TestParseDefaultRoute(t *testing.T) {
	const header = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
	tests := []struct {
		name    string
		table   string
		ifname  string
		gw      string
		wantErr bool
	}{
		{"home_router", header +
			"eth0\t00000000\t0101A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n" +
			"eth0\t0001A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0\n", "eth0", "192.168.1.1", false},
		{"public_gateway_skipped", header +
			"eth0\t00000000\t017100CB\t0003\t0\t0\t100\t00000000\t0\t0\t0\n" +
			"wlan0\t00000000\t0100000A\t0003\t0\t0\t600\t00000000\t0\t0\t0\n", "wlan0", "10.0.0.1", false},
		{"down_route_skipped", header +
			"eth0\t00000000\t0101A8C0\t0002\t0\t0\t100\t00000000\t0\t0\t0\n", "", "", true},
		{"gateway_route_not_default", header +
			"eth0\t0000000A\t0101A8C0\t0003\t0\t0\t100\t000000FF\t0\t0\t0\n", "", "", true},
		{"garbage", header + "eth0\t00000000\tzz\t0003\n\n", "", "", true},
		{"empty", "", "", "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ifname, gw, err := parseDefaultRoute(strings.NewReader(tc.table))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if tc.wantErr {
				return
			}
			if ifname != tc.ifname || gw.String() != tc.gw {
				t.Errorf("got %s via %s, want %s via %s", gw, ifname, tc.gw, tc.ifname)
			}
		})
	}
}

// FuzzPortMapAnswer: whatever a gateway (or anyone on the LAN) sends back
// to the port-mapping probe is read without a crash.
func FuzzPortMapAnswer(f *testing.F) {
	f.Add([]byte{0, 0x80, 0, 0, 0, 0, 0, 1, 203, 0, 113, 7})
	f.Add(append([]byte{2, 0x80, 0, 0}, make([]byte, 20)...))
	f.Add([]byte{0, 0x80})
	f.Add([]byte{2})
	f.Add([]byte("HTTP/1.1 200 OK\r\nST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\n\r\n"))
	f.Add([]byte(":InternetGatewayDevice:"))
	f.Fuzz(func(t *testing.T, pkt []byte) {
		var found portMapFound
		if found.readPXP(pkt) == "" || found.readSSDP(pkt) == "" {
			t.Error("an answer read without a description")
		}
	})
}
