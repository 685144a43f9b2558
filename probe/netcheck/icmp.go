package netcheck

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/relayctl/relayctl/relay/client"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
)

// icmpTimeout bounds the ICMP fallback, as in Tailscale's client: a relay
// that answers echo at all answers within a second.
const icmpTimeout = time.Second

// pinger sends ICMPv4 echo requests from one socket and matches the
// replies. It prefers the unprivileged datagram socket Linux allows when
// the process's group is inside net.ipv4.ping_group_range; otherwise (as
// root) it opens a raw socket, which sees every echo reply reaching the
// host, so replies are also matched by the random echo ID.
type pinger struct {
	conn   *icmp.PacketConn
	raw    bool
	id     int
	closed atomic.Bool

	mu      sync.Mutex
	seq     int
	waiting map[int]pendingEcho // by sequence number
}

type pendingEcho struct {
	data  string
	reply chan time.Time // buffered: one reply
}

func newPinger() (*pinger, error) {
	p := &pinger{waiting: map[int]pendingEcho{}}
	var idb [2]byte
	rand.Read(idb[:])
	p.id = int(binary.BigEndian.Uint16(idb[:]))
	conn, errDgram := icmp.ListenPacket("udp4", "0.0.0.0")
	if errDgram != nil {
		var errRaw error
		conn, errRaw = icmp.ListenPacket("ip4:icmp", "0.0.0.0")
		if errRaw != nil {
			return nil, fmt.Errorf("icmp: no socket: datagram (ping_group_range): %v; raw: %w", errDgram, errRaw)
		}
		p.raw = true
	}
	p.conn = conn
	go p.readReplies()
	return p, nil
}

// kind says which socket the pinger uses, for verbose output.
func (p *pinger) kind() string {
	if p.raw {
		return "raw socket"
	}
	return "datagram socket"
}

func (p *pinger) Close() error {
	p.closed.Store(true)
	return p.conn.Close()
}

func (p *pinger) readReplies() {
	buf := make([]byte, 1500)
	for {
		n, _, err := p.conn.ReadFrom(buf)
		if err != nil {
			if p.closed.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		at := time.Now()
		msg, err := icmp.ParseMessage(1, buf[:n]) // 1: ICMPv4
		if err != nil || msg.Type != ipv4.ICMPTypeEchoReply {
			continue
		}
		echo, ok := msg.Body.(*icmp.Echo)
		// A datagram socket's replies carry the ID the kernel chose,
		// and only this socket's replies arrive; a raw socket's carry ours.
		if !ok || p.raw && echo.ID != p.id {
			continue
		}
		p.mu.Lock()
		w, ok := p.waiting[echo.Seq]
		if ok && w.data == string(echo.Data) {
			delete(p.waiting, echo.Seq)
			w.reply <- at
		}
		p.mu.Unlock()
	}
}

// ping sends one echo request carrying data to dst and waits for its reply
// until ctx ends.
func (p *pinger) ping(ctx context.Context, dst netip.Addr, data []byte) (time.Duration, error) {
	p.mu.Lock()
	p.seq = (p.seq + 1) & 0xffff
	seq := p.seq
	w := pendingEcho{data: string(data), reply: make(chan time.Time, 1)}
	p.waiting[seq] = w
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.waiting, seq)
		p.mu.Unlock()
	}()
	pkt, err := (&icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{ID: p.id, Seq: seq, Data: data}}).Marshal(nil)
	if err != nil {
		return 0, err
	}
	var to net.Addr = &net.IPAddr{IP: dst.AsSlice()}
	if !p.raw {
		to = &net.UDPAddr{IP: dst.AsSlice()}
	}
	sent := time.Now()
	if _, err := p.conn.WriteTo(pkt, to); err != nil {
		return 0, fmt.Errorf("icmp echo to %s: %w", dst, err)
	}
	select {
	case at := <-w.reply:
		return at.Sub(sent), nil
	case <-ctx.Done():
		return 0, fmt.Errorf("icmp echo to %s: no reply within %v", dst, icmpTimeout)
	}
}

// runICMP pings the first node of each region in need, all at once, for at
// most icmpTimeout: the latency a client sees when only UDP is blocked.
func (nc *netchecker) runICMP(ctx context.Context, need []int) {
	ctx, cancel := context.WithTimeout(ctx, icmpTimeout)
	defer cancel()
	p, err := newPinger()
	if err != nil {
		nc.emit(Event{Method: MethodICMP, Err: err})
		return
	}
	defer p.Close()
	var wg sync.WaitGroup
	for _, id := range need {
		n := nc.m.Regions[id].Nodes[0]
		if n.STUNPort < 0 {
			// A node without STUN asks not to be measured.
			continue
		}
		wg.Go(func() {
			ip, err := client.NodeFamilyAddr(ctx, nc.opts.Resolver, n, false)
			if err != nil {
				nc.emit(Event{Method: MethodICMP, Region: id, Target: n.Name, Err: err})
				return
			}
			// The node's name as payload tells replies apart, as
			// Tailscale's client does.
			d, err := p.ping(ctx, ip, []byte(n.Name))
			ev := Event{Method: MethodICMP, Region: id, Target: ip.String(), Latency: d, Err: err}
			if err == nil {
				ev.Detail = "echo reply over a " + p.kind()
				nc.mu.Lock()
				nc.rep.ICMPv4 = true
				nc.recordLatencyLocked(id, MethodICMP, d, 4)
				nc.mu.Unlock()
			}
			nc.emit(ev)
		})
	}
	wg.Wait()
}
