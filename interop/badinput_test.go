package interop

import (
	"encoding/binary"
	"encoding/json"
	"net"
	"testing"
	"time"

	"tailscale.com/derp"
	"tailscale.com/types/key"
)

const (
	// handshakeCloseWithin covers derper's 10 s deadline for reading
	// ClientInfo after the upgrade, with slack for a loaded machine.
	handshakeCloseWithin = 15 * time.Second
	// preUpgradeCloseWithin covers derper's 30 s http.Server ReadTimeout,
	// which is what ends a connection that never sends its request.
	preUpgradeCloseWithin = 40 * time.Second
	// rapidCycles is how many connect/disconnect cycles the churn case runs.
	rapidCycles = 300
)

// offence misbehaves on connections of its own and checks that the server
// dealt with it. It returns the offending connection's address (as the
// server sees it) for the log check, or "" when there is no single one.
type offence struct {
	name   string
	commit func(t *testing.T, s *server) (offender string)
}

var offences = []offence{
	{"garbage_after_upgrade", func(t *testing.T, s *server) string {
		c := dialRaw(t, s)
		c.upgrade(t)
		c.writeRaw(t, []byte("this is not a DERP frame\r\n\x00\xff\xfe\x00garbage"))
		c.expectClosed(t, msgTimeout)
		return c.localAddr()
	}},
	{"oversized_client_info", func(t *testing.T, s *server) string {
		c := dialRaw(t, s)
		c.upgrade(t)
		c.writeRaw(t, frameHeader(derp.FrameClientInfo, 0x7fffffff))
		c.expectClosed(t, msgTimeout)
		return c.localAddr()
	}},
	{"oversized_send_packet", func(t *testing.T, s *server) string {
		c := dialRaw(t, s)
		c.handshake(t, key.NewNode())
		// derper reads the destination key before judging the length, so
		// it is sent; the 2 GiB of packet never are.
		dst := key.NewNode().Public()
		c.writeRaw(t, dst.AppendTo(frameHeader(derp.FrameSendPacket, 0x7fffffff)))
		c.expectClosed(t, msgTimeout)
		return c.localAddr()
	}},
	{"truncated_client_info", func(t *testing.T, s *server) string {
		c := dialRaw(t, s)
		c.upgrade(t)
		full := clientInfoPayload(key.NewNode(), c.serverKey)
		c.writeRaw(t, append(frameHeader(derp.FrameClientInfo, uint32(len(full))), full[:len(full)/2]...))
		if err := c.nc.(*net.TCPConn).CloseWrite(); err != nil {
			t.Fatal(err)
		}
		c.expectClosed(t, msgTimeout)
		return c.localAddr()
	}},
	{"client_info_bad_box", func(t *testing.T, s *server) string {
		c := dialRaw(t, s)
		c.upgrade(t)
		priv := key.NewNode()
		msg, _ := json.Marshal(derp.ClientInfo{Version: derp.ProtocolVersion})
		wrongServer := key.NewNode().Public() // sealed to a key the server doesn't hold
		c.writeFrame(t, derp.FrameClientInfo, append(priv.Public().AppendTo(nil), priv.SealTo(wrongServer, msg)...))
		c.expectClosed(t, msgTimeout)
		return c.localAddr()
	}},
	{"first_frame_not_client_info", func(t *testing.T, s *server) string {
		c := dialRaw(t, s)
		c.upgrade(t)
		dst := key.NewNode().Public()
		c.writeFrame(t, derp.FrameSendPacket, dst.AppendTo(nil))
		c.expectClosed(t, msgTimeout)
		return c.localAddr()
	}},
	{"silent_before_upgrade", func(t *testing.T, s *server) string {
		c := dialRaw(t, s)
		c.expectClosed(t, preUpgradeCloseWithin)
		// A connection that sends no request is normal (load-balancer
		// checks, scanners): relayctl counts it and logs it at debug only.
		if s.kind == relayctlServer {
			if v, err := varzValue(t.Context(), s.url(""), "relayctl_empty_connections"); err != nil || v < 1 {
				t.Errorf("relayctl_empty_connections = %v (%v), want at least 1", v, err)
			}
		}
		return ""
	}},
	{"silent_after_upgrade", func(t *testing.T, s *server) string {
		c := dialRaw(t, s)
		c.upgrade(t)
		c.expectClosed(t, handshakeCloseWithin)
		return c.localAddr()
	}},
	{"rapid_connect_disconnect", func(t *testing.T, s *server) string {
		for i := range rapidCycles {
			c := dialRaw(t, s)
			switch i % 4 {
			case 0, 2: // half the cycles complete a DERP handshake
				c.handshake(t, key.NewNode())
			case 1: // TCP only
			case 3: // upgrade, then leave before ClientInfo
				c.upgrade(t)
			}
			c.nc.Close()
		}
		return ""
	}},
}

// frameHeader is a DERP frame header claiming length n, however many bytes
// actually follow.
func frameHeader(typ derp.FrameType, n uint32) []byte {
	return binary.BigEndian.AppendUint32([]byte{byte(typ)}, n)
}

// testBadInput commits each offence against a server that already has an
// established pair of clients. Only the offender may be disconnected: the
// pair must keep delivering, and a fresh pair must connect and deliver
// afterwards.
func testBadInput(t *testing.T, k serverKind) {
	for _, o := range offences {
		t.Run(o.name, func(t *testing.T) {
			t.Parallel()
			s := startServer(t, k)
			a, b := connectPeer(t, s), connectPeer(t, s)
			exchange(t, a, b)

			offender := o.commit(t, s)

			exchange(t, a, b)
			exchange(t, connectPeer(t, s), connectPeer(t, s))
			if !s.alive() {
				t.Fatalf("%s exited", k)
			}
			// Logs are a relayctl promise (structured, one line per event
			// an operator would act on); derper's are free text.
			if k == relayctlServer && offender != "" {
				if _, err := s.logs.waitForJSONLine(t.Context(), msgTimeout, offender); err != nil {
					t.Errorf("offending connection not logged: %v", err)
				}
			}
		})
	}
}
