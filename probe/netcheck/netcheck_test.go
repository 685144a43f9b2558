package netcheck

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/relayctl/relayctl/internal/derpmap"
	"github.com/relayctl/relayctl/probe/internal/probetest"
)

// slowSTUN answers binding requests after delay, building the
// XOR-MAPPED-ADDRESS reply by hand: a region that is farther away.
func slowSTUN(t *testing.T, delay time.Duration) int {
	t.Helper()
	return fakeSTUN(t, delay, 0)
}

// fakeSTUN answers after delay with the client's port plus portShift: a
// NAT that maps each destination differently when portShift differs
// between servers.
func fakeSTUN(t *testing.T, delay time.Duration, portShift uint16) int {
	t.Helper()
	pc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			if n < 20 {
				continue
			}
			// 01 01 | len 12 | cookie | txid | 00 20 | 00 08 | 00 01 | port^0x2112 | ip^cookie
			resp := make([]byte, 32)
			binary.BigEndian.PutUint16(resp[0:], 0x0101)
			binary.BigEndian.PutUint16(resp[2:], 12)
			copy(resp[4:20], buf[4:20])
			binary.BigEndian.PutUint16(resp[20:], 0x0020)
			binary.BigEndian.PutUint16(resp[22:], 8)
			resp[25] = 1
			binary.BigEndian.PutUint16(resp[26:], (from.Port()+portShift)^0x2112)
			ip := from.Addr().Unmap().As4()
			for i := range 4 {
				resp[28+i] = ip[i] ^ buf[4+i]
			}
			time.AfterFunc(delay, func() { pc.WriteToUDPAddrPort(resp, from) })
		}
	}()
	return pc.LocalAddr().(*net.UDPAddr).Port
}

// noGateway keeps a test's netcheck from asking the host's real gateway
// for port mapping: test traffic stays on loopback.
func noGateway() (netip.Addr, netip.Addr, error) { return netip.Addr{}, netip.Addr{}, errNoGateway }

func stunOnlyNode(name string, region, port int) *derpmap.DERPNode {
	return &derpmap.DERPNode{Name: name, RegionID: region, HostName: "localhost", IPv4: "127.0.0.1", IPv6: "none", STUNPort: port, STUNOnly: true}
}

func TestNetcheckPicksNearerRegion(t *testing.T) {
	t.Parallel()
	near := probetest.StartNode(t, probetest.NodeOpts{})
	farPort := slowSTUN(t, 60*time.Millisecond)
	tests := []struct {
		name      string
		score     map[int]float64
		preferred int
	}{
		{"latency_alone", nil, 900},
		{"region_score_penalises_near", map[int]float64{900: 1e6}, 901},
		{"nonpositive_score_ignored", map[int]float64{900: 0, 901: -1}, 900},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := &derpmap.DERPMap{Regions: map[int]*derpmap.DERPRegion{
				900: {RegionID: 900, RegionCode: "near", Nodes: []*derpmap.DERPNode{stunOnlyNode("900a", 900, near.STUNPort)}},
				901: {RegionID: 901, RegionCode: "far", Nodes: []*derpmap.DERPNode{stunOnlyNode("901a", 901, farPort)}},
			}}
			if tc.score != nil {
				m.HomeParams = &derpmap.DERPHomeParams{RegionScore: tc.score}
			}
			rep, err := Run(t.Context(), m, Options{BindV4: "127.0.0.1:0", STUNTimeout: 2 * time.Second, DefaultGateway: noGateway})
			if err != nil {
				t.Fatal(err)
			}
			if !rep.UDP || !rep.IPv4 || rep.IPv6 || !rep.IPv4CanSend {
				t.Errorf("UDP=%v IPv4=%v IPv6=%v IPv4CanSend=%v, want true true false true", rep.UDP, rep.IPv4, rep.IPv6, rep.IPv4CanSend)
			}
			if rep.GlobalV4.Addr() != netip.MustParseAddr("127.0.0.1") || rep.GlobalV4.Port() == 0 {
				t.Errorf("GlobalV4 = %v, want 127.0.0.1:<our port>", rep.GlobalV4)
			}
			if rep.MappingVariesByDestIP == nil || *rep.MappingVariesByDestIP {
				t.Errorf("MappingVariesByDestIP = %v, want false (one socket, loopback)", rep.MappingVariesByDestIP)
			}
			if len(rep.RegionLatency) != 2 || rep.RegionLatency[901] < 60*time.Millisecond || rep.RegionLatency[900] >= rep.RegionLatency[901] {
				t.Errorf("RegionLatency = %v, want 900 < 901 and 901 ≥ 60ms", rep.RegionLatency)
			}
			if len(rep.RegionV4Latency) != 2 || len(rep.RegionV6Latency) != 0 {
				t.Errorf("RegionV4Latency = %v, RegionV6Latency = %v", rep.RegionV4Latency, rep.RegionV6Latency)
			}
			if rep.RegionLatencyMethod[900] != MethodSTUN || rep.RegionLatencyMethod[901] != MethodSTUN || rep.ICMPv4 {
				t.Errorf("RegionLatencyMethod = %v, ICMPv4 = %v, want STUN for both and no ICMP", rep.RegionLatencyMethod, rep.ICMPv4)
			}
			if rep.PreferredDERP != tc.preferred {
				t.Errorf("PreferredDERP = %d, want %d", rep.PreferredDERP, tc.preferred)
			}
		})
	}
}

func TestNetcheckFallsBackToHTTPS(t *testing.T) {
	t.Parallel()
	tlsNode := probetest.StartNode(t, probetest.NodeOpts{TLS: true, NoSTUN: true})
	plainNode := probetest.StartNode(t, probetest.NodeOpts{NoSTUN: true})
	tests := []struct {
		name  string
		node  *probetest.Node
		plain bool
	}{
		{"https_pinned", tlsNode, false},
		{"plain_http", plainNode, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := probetest.OneRegionMap(900, "home", tc.node.DERPNode("900a", 900))
			rep, err := Run(t.Context(), m, Options{STUNTimeout: 500 * time.Millisecond, PlainHTTP: tc.plain, skipICMP: true, DefaultGateway: noGateway})
			if err != nil {
				t.Fatal(err)
			}
			if rep.UDP || rep.GlobalV4.IsValid() || rep.MappingVariesByDestIP != nil {
				t.Errorf("UDP=%v GlobalV4=%v MappingVariesByDestIP=%v, want no UDP result", rep.UDP, rep.GlobalV4, rep.MappingVariesByDestIP)
			}
			if rep.RegionLatency[900] <= 0 || rep.RegionV4Latency[900] <= 0 || !rep.IPv4 {
				t.Errorf("RegionLatency=%v RegionV4Latency=%v IPv4=%v, want an HTTPS latency over IPv4", rep.RegionLatency, rep.RegionV4Latency, rep.IPv4)
			}
			if rep.PreferredDERP != 900 {
				t.Errorf("PreferredDERP = %d, want 900", rep.PreferredDERP)
			}
			if got := rep.RegionLatencyMethod[900]; got != MethodHTTPS || rep.ICMPv4 {
				t.Errorf("RegionLatencyMethod[900] = %q, ICMPv4 = %v, want HTTPS and false", got, rep.ICMPv4)
			}
		})
	}
}

// TestNetcheckFallsBackToICMP: with no STUN reply and no HTTP server,
// only an echo reply measures the region. It needs an ICMP socket: root,
// or a group inside net.ipv4.ping_group_range.
func TestNetcheckFallsBackToICMP(t *testing.T) {
	t.Parallel()
	p, err := newPinger()
	if err != nil {
		t.Skipf("no ICMP socket (not root, group outside net.ipv4.ping_group_range): %v", err)
	}
	p.Close()
	n := &derpmap.DERPNode{Name: "900a", RegionID: 900, HostName: "127.0.0.1", IPv4: "127.0.0.1", IPv6: "none",
		STUNPort: probetest.DeadUDPPort(t), DERPPort: probetest.DeadTCPPort(t)}
	var events []Event
	rep, err := Run(t.Context(), probetest.OneRegionMap(900, "home", n), Options{
		STUNTimeout: 300 * time.Millisecond, PlainHTTP: true, DefaultGateway: noGateway,
		OnEvent: func(ev Event) { events = append(events, ev) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.UDP || !rep.ICMPv4 || !rep.IPv4 {
		t.Errorf("UDP=%v ICMPv4=%v IPv4=%v, want false true true", rep.UDP, rep.ICMPv4, rep.IPv4)
	}
	if rep.RegionLatency[900] <= 0 || rep.RegionLatencyMethod[900] != MethodICMP || rep.PreferredDERP != 900 {
		t.Errorf("RegionLatency=%v RegionLatencyMethod=%v PreferredDERP=%d, want an ICMP latency for 900",
			rep.RegionLatency, rep.RegionLatencyMethod, rep.PreferredDERP)
	}
	var httpsFailed bool
	for _, ev := range events {
		httpsFailed = httpsFailed || ev.Method == MethodHTTPS && ev.Err != nil
	}
	if !httpsFailed {
		t.Errorf("no failed HTTPS event among %+v", events)
	}
}

// TestNetcheckMappingVariesByDestIP: only replies from two different
// servers can say whether the NAT maps by destination.
func TestNetcheckMappingVariesByDestIP(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		shifts []uint16 // one STUN server per entry, each its own region
		want   *bool
	}{
		{"one_server", []uint16{0}, nil},
		{"two_servers_same_mapping", []uint16{0, 0}, new(false)},
		{"two_servers_different_mapping", []uint16{0, 7}, new(true)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := &derpmap.DERPMap{Regions: map[int]*derpmap.DERPRegion{}}
			for i, shift := range tc.shifts {
				id := 900 + i
				m.Regions[id] = &derpmap.DERPRegion{RegionID: id, Nodes: []*derpmap.DERPNode{stunOnlyNode(fmt.Sprint(id), id, fakeSTUN(t, 0, shift))}}
			}
			rep, err := Run(t.Context(), m, Options{BindV4: "127.0.0.1:0", STUNTimeout: 2 * time.Second, DefaultGateway: noGateway})
			if err != nil {
				t.Fatal(err)
			}
			if fmtOptBool(rep.MappingVariesByDestIP) != fmtOptBool(tc.want) {
				t.Errorf("MappingVariesByDestIP = %s, want %s (counters %v)", fmtOptBool(rep.MappingVariesByDestIP), fmtOptBool(tc.want), rep.GlobalV4Counters)
			}
		})
	}
}

// TestRecordLatencyKeepsLowest: when two methods measure a region, the
// lower latency stands with the method that measured it.
func TestRecordLatencyKeepsLowest(t *testing.T) {
	type sample struct {
		method string
		d      time.Duration
		fam    int
	}
	tests := []struct {
		name       string
		samples    []sample
		wantLat    time.Duration
		wantMethod string
		wantV4     bool
	}{
		{"icmp_then_faster_https", []sample{{MethodICMP, 3 * time.Millisecond, 4}, {MethodHTTPS, 2 * time.Millisecond, 4}}, 2 * time.Millisecond, MethodHTTPS, true},
		{"https_then_slower_icmp", []sample{{MethodHTTPS, 2 * time.Millisecond, 0}, {MethodICMP, 3 * time.Millisecond, 4}}, 2 * time.Millisecond, MethodHTTPS, true},
		{"tie_keeps_first", []sample{{MethodICMP, time.Millisecond, 4}, {MethodHTTPS, time.Millisecond, 4}}, time.Millisecond, MethodICMP, true},
		{"unknown_family", []sample{{MethodHTTPS, time.Millisecond, 0}}, time.Millisecond, MethodHTTPS, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			nc := &netchecker{rep: &Report{RegionLatency: map[int]time.Duration{}, RegionV4Latency: map[int]time.Duration{},
				RegionV6Latency: map[int]time.Duration{}, RegionLatencyMethod: map[int]string{}}}
			for _, s := range tc.samples {
				nc.recordLatencyLocked(900, s.method, s.d, s.fam)
			}
			if got := nc.rep.RegionLatency[900]; got != tc.wantLat {
				t.Errorf("RegionLatency = %v, want %v", got, tc.wantLat)
			}
			if got := nc.rep.RegionLatencyMethod[900]; got != tc.wantMethod {
				t.Errorf("RegionLatencyMethod = %q, want %q", got, tc.wantMethod)
			}
			if nc.rep.IPv4 != tc.wantV4 {
				t.Errorf("IPv4 = %v, want %v", nc.rep.IPv4, tc.wantV4)
			}
		})
	}
}

// TestNetcheckZeroSTUNTimeoutWaits: with STUNTimeout 0 the STUN phase has
// no limit of its own, so a reply slower than DefaultSTUNTimeout still
// counts; ctx alone bounds the wait.
func TestNetcheckZeroSTUNTimeoutWaits(t *testing.T) {
	delay := DefaultSTUNTimeout + 300*time.Millisecond
	m := probetest.OneRegionMap(900, "slow", stunOnlyNode("900a", 900, slowSTUN(t, delay)))
	ctx, cancel := context.WithTimeout(t.Context(), 3*delay)
	defer cancel()
	opts := Options{BindV4: "127.0.0.1:0", DefaultGateway: noGateway, skipICMP: true}
	rep, err := Run(ctx, m, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.UDP || rep.RegionLatency[900] < delay {
		t.Errorf("UDP %v, latency %v: want the reply after %v counted", rep.UDP, rep.RegionLatency[900], delay)
	}
	if d := DefaultOptions(); d.STUNTimeout != DefaultSTUNTimeout || d.HTTPSTimeout != DefaultHTTPSTimeout {
		t.Errorf("DefaultOptions %+v", d)
	}
}
