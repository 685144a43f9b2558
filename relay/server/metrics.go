package server

import (
	"github.com/relayctl/relayctl/internal/metrics"
)

// Drop reasons, as derper labels them (derp_packets_dropped{reason}).
type dropReason int

const (
	dropUnknownDest dropReason = iota
	dropUnknownDestOnFwd
	dropGoneDisconnected
	dropQueueHead
	dropWriteError
	dropDupClient
	dropACLDenied
	numDropReasons
)

var dropReasonNames = [numDropReasons]string{
	dropUnknownDest:      "unknown_dest",
	dropUnknownDestOnFwd: "unknown_dest_on_fwd",
	dropGoneDisconnected: "gone_disconnected",
	dropQueueHead:        "queue_head",
	dropWriteError:       "write_error",
	dropDupClient:        "dup_client",
	dropACLDenied:        "acl_denied",
}

// serverMetrics are the relay's counters and gauges. Names follow derper's
// /debug/varz so existing dashboards keep working; relayctl_* are ours.
type serverMetrics struct {
	accepts               *metrics.Counter
	currentConns          *metrics.Gauge
	homeConns             *metrics.Gauge
	notIdealConns         *metrics.Gauge
	clientsLocal          *metrics.Gauge
	dupClientKeys         *metrics.Gauge
	dupClientConns        *metrics.Gauge
	totalDupConns         *metrics.Counter
	watchers              *metrics.Gauge
	bytesReceived         *metrics.Counter
	bytesSent             *metrics.Counter
	packetsReceived       *metrics.Counter
	packetsSent           *metrics.Counter
	packetsRecvDisco      *metrics.Counter
	packetsRecvOther      *metrics.Counter
	packetsDropped        [numDropReasons][2]*metrics.Counter // [reason][disco?]
	bytesDropped          [numDropReasons][2]*metrics.Counter
	unknownFrames         *metrics.Counter
	homeMovesIn           *metrics.Counter
	homeMovesOut          *metrics.Counter
	gotPing               *metrics.Counter
	sentPong              *metrics.Counter
	peerGoneDisconn       *metrics.Counter
	peerGoneNotHere       *metrics.Counter
	forwardedIn           *metrics.Counter
	forwardedOut          *metrics.Counter
	writeTimeouts         *metrics.Counter
	websocketAccepts      *metrics.Counter
	handshakeFailures     *metrics.CounterVec
	closedForProtocol     *metrics.CounterVec
	clientsRemote         *metrics.Gauge
	multiForwarderCreated *metrics.Counter
	multiForwarderDeleted *metrics.Counter
	forwarderDeleteOther  *metrics.Counter
	bufferedWriteBatch    *metrics.Histogram
	updatesDropped        *metrics.Counter
}

func newServerMetrics(reg *metrics.Registry) *serverMetrics {
	m := &serverMetrics{
		accepts:           reg.Counter("derp_accepts", "connections handed to the DERP server, before the handshake"),
		currentConns:      reg.Gauge("derp_current_connections", "DERP connections, including duplicates and mesh peers"),
		homeConns:         reg.Gauge("derp_current_home_connections", "connections whose client says this is its home region"),
		notIdealConns:     reg.Gauge("derp_current_notideal_connections", "connections from clients that would rather be on another node of the region"),
		clientsLocal:      reg.Gauge("derp_clients_local", "distinct keys connected to this node"),
		dupClientKeys:     reg.Gauge("derp_current_dup_client_keys", "keys with more than one connection"),
		dupClientConns:    reg.Gauge("derp_current_dup_client_conns", "connections belonging to keys with more than one connection"),
		totalDupConns:     reg.Counter("derp_total_dup_client_conns", "connections that arrived for an already connected key"),
		watchers:          reg.Gauge("derp_watchers", "mesh watchers subscribed to connection changes"),
		bytesReceived:     reg.Counter("derp_bytes_received", "packet payload bytes received from clients"),
		bytesSent:         reg.Counter("derp_bytes_sent", "packet payload bytes written to clients"),
		packetsReceived:   reg.Counter("derp_packets_received", "packets received from clients"),
		packetsSent:       reg.Counter("derp_packets_sent", "packets written to clients"),
		unknownFrames:     reg.Counter("derp_unknown_frames", "frames of unknown type received and skipped"),
		homeMovesIn:       reg.Counter("derp_home_moves_in", "clients that made this node home after connecting"),
		homeMovesOut:      reg.Counter("derp_home_moves_out", "clients that stopped calling this node home after connecting"),
		gotPing:           reg.Counter("derp_got_ping", "Ping frames received"),
		sentPong:          reg.Counter("derp_sent_pong", "Pong frames written"),
		peerGoneDisconn:   reg.Counter("derp_peer_gone_disconnected_frames", "PeerGone(Disconnected) frames written"),
		peerGoneNotHere:   reg.Counter("derp_peer_gone_not_here_frames", "PeerGone(NotHere) frames written"),
		forwardedIn:       reg.Counter("derp_packets_forwarded_in", "packets received from mesh peers"),
		forwardedOut:      reg.Counter("derp_packets_forwarded_out", "packets forwarded to mesh peers"),
		writeTimeouts:     reg.Counter("derp_sclient_write_timeouts", "connections closed because a write hit its deadline"),
		websocketAccepts:  reg.Counter("derp_websocket_accepts", "DERP connections over WebSocket"),
		handshakeFailures: reg.CounterVec("relayctl_handshake_failures", "connections that failed the DERP handshake, by reason", "reason"),
		closedForProtocol: reg.CounterVec("relayctl_protocol_errors", "established connections closed for a protocol violation, by frame", "frame"),
		bufferedWriteBatch: reg.Histogram("derp_buffered_write_frames", "frames written per flush",
			[]float64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 20, 25, 50, 100}),
	}
	m.clientsRemote = reg.Gauge("derp_clients_remote", "keys known only through mesh peers")
	m.multiForwarderCreated = reg.Counter("derp_multiforwarder_created", "keys that gained a second mesh forwarder")
	m.multiForwarderDeleted = reg.Counter("derp_multiforwarder_deleted", "keys that lost one of several mesh forwarders")
	m.updatesDropped = reg.Counter("relayctl_peer_updates_dropped", "PeerPresent and PeerGone notices dropped because the client (usually a mesh watcher) was that far behind")
	m.forwarderDeleteOther = reg.Counter("derp_packet_forwarder_delete_other_value", "removals of a mesh forwarder that was not registered")
	reg.GaugeFunc("derp_clients_total", "keys reachable through this node: local plus mesh", func() float64 {
		return float64(m.clientsLocal.Value() + m.clientsRemote.Value())
	})
	recv := reg.CounterVec("derp_packets_received_kind", "packets received from clients, by kind", "kind")
	m.packetsRecvDisco = recv.With("disco")
	m.packetsRecvOther = recv.With("other")
	pd := reg.CounterVec("derp_packets_dropped", "packets dropped, by reason and kind", "reason", "kind")
	bd := reg.CounterVec("derp_bytes_dropped", "payload bytes dropped, by reason and kind", "reason", "kind")
	for r := range numDropReasons {
		m.packetsDropped[r][0] = pd.With(dropReasonNames[r], "other")
		m.packetsDropped[r][1] = pd.With(dropReasonNames[r], "disco")
		m.bytesDropped[r][0] = bd.With(dropReasonNames[r], "other")
		m.bytesDropped[r][1] = bd.With(dropReasonNames[r], "disco")
	}
	for _, r := range []string{"timeout", "eof", "not_client_info", "bad_length", "bad_box", "bad_json", "rejected", "write_error"} {
		m.handshakeFailures.With(r)
	}
	return m
}

func (m *serverMetrics) drop(r dropReason, disco bool, n int) {
	m.dropMany(r, disco, 1, int64(n))
}

// dropMany counts packets packets of bytes bytes in all dropped for r.
func (m *serverMetrics) dropMany(r dropReason, disco bool, packets, bytes int64) {
	d := kindIndex(disco)
	m.packetsDropped[r][d].Add(packets)
	m.bytesDropped[r][d].Add(bytes)
}

// kindIndex is the index of a packet's kind in per-kind arrays: 0 for
// other packets, 1 for disco.
func kindIndex(disco bool) int {
	if disco {
		return 1
	}
	return 0
}
