package netcheck

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/relayctl/relayctl/internal/stunwire"
	"github.com/relayctl/relayctl/relay/client"
)

// stunTarget is one STUN request to send: a node of region over one
// address family.
type stunTarget struct {
	region int
	fam    int
	addr   netip.AddrPort
}

// runSTUN sends each region netcheckTries requests per family from one
// socket per family, and waits until every (region, family) pair has
// answered or the STUN timeout ends; the pairs that never answered are
// reported as events.
func (nc *netchecker) runSTUN(ctx context.Context) error {
	ctx, cancel := withLimit(ctx, nc.opts.STUNTimeout)
	defer cancel()
	socks, err := nc.openSTUNSockets()
	if err != nil {
		return err
	}
	var readers sync.WaitGroup
	for fam, c := range socks {
		defer c.Close()
		readers.Go(func() { nc.readReplies(c, fam) })
		context.AfterFunc(ctx, func() { c.SetReadDeadline(time.Unix(1, 0)) })
	}
	targets := nc.stunTargets(ctx, socks)
	for try := range netcheckTries {
		for _, t := range targets[try] {
			nc.send(socks[t.fam], t.region, t.fam, t.addr)
		}
		if try < netcheckTries-1 {
			select {
			case <-ctx.Done():
			case <-time.After(netcheckTrySpacing):
			}
		}
	}
	select {
	case <-nc.allIn:
	case <-ctx.Done():
	}
	cancel()
	readers.Wait()
	nc.reportSilent()
	return nil
}

// openSTUNSockets opens one UDP socket per family, keyed 4 and 6; one
// family failing is not an error, both failing is.
func (nc *netchecker) openSTUNSockets() (map[int]*net.UDPConn, error) {
	conn4, err4 := net.ListenPacket("udp4", nc.opts.BindV4)
	conn6, err6 := net.ListenPacket("udp6", cmp.Or(nc.opts.BindV6, "[::]:0"))
	if err4 != nil && err6 != nil {
		return nil, fmt.Errorf("netcheck: no UDP socket: %v; %v", err4, err6)
	}
	socks := map[int]*net.UDPConn{}
	if err4 == nil {
		socks[4] = conn4.(*net.UDPConn)
	}
	if err6 == nil {
		socks[6] = conn6.(*net.UDPConn)
	}
	return socks, nil
}

// stunTargets plans each try's requests, rotating over a region's nodes,
// and sets the (region, family) pairs to wait for. Addresses are resolved
// up front so that DNS time is not latency.
func (nc *netchecker) stunTargets(ctx context.Context, socks map[int]*net.UDPConn) [netcheckTries][]stunTarget {
	var targets [netcheckTries][]stunTarget
	nc.want = map[[2]int]bool{}
	for _, id := range nc.m.RegionIDs() {
		reg := nc.m.Regions[id]
		if reg.NoMeasureNoHome || len(reg.Nodes) == 0 {
			continue
		}
		for try := range netcheckTries {
			n := reg.Nodes[try%len(reg.Nodes)]
			if n.STUNPortOrDefault() <= 0 {
				continue
			}
			for _, fam := range []int{4, 6} {
				if socks[fam] == nil {
					continue
				}
				ip, err := client.NodeFamilyAddr(ctx, nc.opts.Resolver, n, fam == 6)
				if err != nil {
					continue
				}
				targets[try] = append(targets[try], stunTarget{id, fam, netip.AddrPortFrom(ip, uint16(n.STUNPortOrDefault()))})
				nc.want[[2]int{id, fam}] = true
			}
		}
	}
	nc.allIn = make(chan struct{})
	if len(nc.want) == 0 {
		close(nc.allIn)
	}
	return targets
}

// reportSilent emits an event for each (region, family) pair that never
// answered, in region order.
func (nc *netchecker) reportSilent() {
	nc.mu.Lock()
	silent := slices.Collect(maps.Keys(nc.want))
	nc.mu.Unlock()
	slices.SortFunc(silent, func(a, b [2]int) int { return cmp.Or(a[0]-b[0], a[1]-b[1]) })
	within := "before the check ended"
	if nc.opts.STUNTimeout > 0 {
		within = fmt.Sprintf("within %v", nc.opts.STUNTimeout)
	}
	for _, key := range silent {
		nc.emit(Event{Method: MethodSTUN, Region: key[0],
			Err: fmt.Errorf("IPv%d: no reply %s", key[1], within)})
	}
}

func (nc *netchecker) send(c *net.UDPConn, region, fam int, dst netip.AddrPort) {
	var tx [12]byte
	rand.Read(tx[:])
	nc.mu.Lock()
	nc.pending[tx] = stunTry{region: region, sent: time.Now()}
	nc.mu.Unlock()
	_, err := c.WriteToUDPAddrPort(stunwire.TailscaleRequest(tx), dst)
	nc.mu.Lock()
	defer nc.mu.Unlock()
	if err == nil {
		if fam == 4 {
			nc.rep.IPv4CanSend = true
		} else {
			nc.rep.IPv6CanSend = true
		}
	}
}

func (nc *netchecker) readReplies(c *net.UDPConn, fam int) {
	buf := make([]byte, 1500)
	for {
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				return
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		at := time.Now()
		tx, mapped, err := stunwire.ParseResponse(buf[:n])
		if err != nil {
			continue
		}
		server := netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		if ev, ok := nc.record(tx, server, mapped, fam, at); ok {
			ev.Target = from.String()
			nc.emit(ev)
		}
	}
}

// record files one STUN reply; it reports false for a reply to no
// request of ours.
func (nc *netchecker) record(tx [12]byte, server, mapped netip.AddrPort, fam int, at time.Time) (Event, bool) {
	nc.mu.Lock()
	defer nc.mu.Unlock()
	try, ok := nc.pending[tx]
	if !ok {
		return Event{}, false
	}
	delete(nc.pending, tx)
	d := at.Sub(try.sent)
	rep := nc.rep
	rep.UDP = true
	nc.recordLatencyLocked(try.region, MethodSTUN, d, fam)
	if fam == 4 {
		if rep.GlobalV4Counters == nil {
			rep.GlobalV4Counters = map[netip.AddrPort]int{}
		}
		rep.GlobalV4Counters[mapped]++
		switch {
		case !rep.GlobalV4.IsValid():
			rep.GlobalV4 = mapped
			nc.firstV4Server = server
		case server != nc.firstV4Server:
			// Only another server can tell whether the mapping
			// depends on the destination.
			varies := rep.GlobalV4 != mapped
			if rep.MappingVariesByDestIP == nil || varies {
				rep.MappingVariesByDestIP = &varies
			}
		}
	} else {
		if rep.GlobalV6Counters == nil {
			rep.GlobalV6Counters = map[netip.AddrPort]int{}
		}
		rep.GlobalV6Counters[mapped]++
		if !rep.GlobalV6.IsValid() {
			rep.GlobalV6 = mapped
		}
	}
	key := [2]int{try.region, fam}
	if nc.want[key] {
		delete(nc.want, key)
		if len(nc.want) == 0 {
			close(nc.allIn)
		}
	}
	return Event{Method: MethodSTUN, Region: try.region, Latency: d,
		Detail: fmt.Sprintf("IPv%d, sees us as %s", fam, mapped)}, true
}
