package prober

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/relayctl/relayctl/internal/derpmap"
	"github.com/relayctl/relayctl/internal/stunwire"
	"github.com/relayctl/relayctl/relay/client"
)

// stunResendInterval spaces STUN retransmissions within one probe; a lost
// request or reply costs this much, not the whole probe.
const stunResendInterval = 500 * time.Millisecond

func (p *Prober) checkSTUN(n *derpmap.DERPNode, v6 bool) func(context.Context, *Result) {
	return func(ctx context.Context, r *Result) {
		ip, err := client.NodeFamilyAddr(ctx, p.cfg.Resolver, n, v6)
		if errors.Is(err, client.ErrNoFamilyAddress) {
			r.Status = StatusSkip
			r.Detail = "node has no address of this family"
			return
		}
		if err != nil {
			fail(ctx, r, err)
			return
		}
		dst := netip.AddrPortFrom(ip, uint16(n.STUNPortOrDefault()))
		rtt, mapped, err := stunRoundTrip(ctx, dst)
		if err != nil {
			fail(ctx, r, err)
			return
		}
		r.Latency = rtt
		r.Detail = fmt.Sprintf("%s sees us as %s", dst, mapped)
	}
}

// stunRoundTrip sends Tailscale's binding request to dst from a fresh UDP
// socket, resending every half second until a matching reply arrives or
// ctx ends. It returns the round trip of the request that was answered and
// the address the server saw.
func stunRoundTrip(ctx context.Context, dst netip.AddrPort) (time.Duration, netip.AddrPort, error) {
	network := "udp4"
	if dst.Addr().Is6() {
		network = "udp6"
	}
	conn, err := net.ListenUDP(network, nil)
	if err != nil {
		return 0, netip.AddrPort{}, fmt.Errorf("stun %s: %w", dst, err)
	}
	defer conn.Close()
	return stunExchange(ctx, conn, dst)
}

// stunExchange runs the request/resend loop on an existing socket.
func stunExchange(ctx context.Context, conn *net.UDPConn, dst netip.AddrPort) (time.Duration, netip.AddrPort, error) {
	stop := context.AfterFunc(ctx, func() { conn.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()

	sent := map[[12]byte]time.Time{}
	buf := make([]byte, 1500)
	var lastErr error
	for {
		var tx [12]byte
		rand.Read(tx[:])
		sent[tx] = time.Now()
		if _, err := conn.WriteToUDPAddrPort(stunwire.TailscaleRequest(tx), dst); err != nil {
			lastErr = err
		}
		deadline := time.Now().Add(stunResendInterval)
		for {
			if ctx.Err() != nil {
				if lastErr == nil {
					lastErr = errors.New("no reply")
				}
				return 0, netip.AddrPort{}, fmt.Errorf("stun %s: %w after %d requests", dst, lastErr, len(sent))
			}
			conn.SetReadDeadline(deadline)
			nr, from, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				if ne, ok := err.(net.Error); ok && ne.Timeout() {
					break // resend
				}
				// ICMP port unreachable surfaces here on a later read;
				// keep trying until the deadline but remember why.
				lastErr = err
				if time.Now().Before(deadline) {
					waitUntil(ctx, deadline)
				}
				break
			}
			if from.Addr().Unmap() != dst.Addr().Unmap() || from.Port() != dst.Port() {
				continue
			}
			txID, mapped, perr := stunwire.ParseResponse(buf[:nr])
			at, ok := sent[txID]
			if !ok {
				continue
			}
			if perr != nil {
				lastErr = perr
				continue
			}
			return time.Since(at), mapped, nil
		}
	}
}

func waitUntil(ctx context.Context, t time.Time) {
	tm := time.NewTimer(time.Until(t))
	defer tm.Stop()
	select {
	case <-ctx.Done():
	case <-tm.C:
	}
}
