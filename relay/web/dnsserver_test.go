package web

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

// dnsServer is a tiny authoritative DNS server on loopback UDP, so that
// lookups go through Go's real resolver: A, AAAA and TXT records from a
// table, NXDOMAIN for any other name.
type dnsServer struct {
	conn net.PacketConn

	mu  sync.Mutex
	ips map[string][]netip.Addr // by name, without the trailing dot
	txt map[string][]string
}

func startDNSServer(t *testing.T) *dnsServer {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &dnsServer{conn: pc, ips: map[string][]netip.Addr{}, txt: map[string][]string{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if resp, ok := s.answer(buf[:n]); ok {
				pc.WriteTo(resp, from)
			}
		}
	}()
	t.Cleanup(func() {
		pc.Close()
		<-done
	})
	return s
}

func (s *dnsServer) setIPs(name string, addrs ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ips[name] = nil
	for _, a := range addrs {
		s.ips[name] = append(s.ips[name], netip.MustParseAddr(a))
	}
}

func (s *dnsServer) setTXT(name string, values ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.txt[name] = values
}

// resolver is a *net.Resolver that asks only this server.
func (s *dnsServer) resolver() *net.Resolver {
	addr := s.conn.LocalAddr().String()
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", addr)
	}}
}

func (s *dnsServer) answer(req []byte) ([]byte, bool) {
	var p dnsmessage.Parser
	h, err := p.Start(req)
	if err != nil {
		return nil, false
	}
	q, err := p.Question()
	if err != nil {
		return nil, false
	}
	name := strings.TrimSuffix(q.Name.String(), ".")
	s.mu.Lock()
	addrs, hasIPs := s.ips[name]
	txt, hasTXT := s.txt[name]
	s.mu.Unlock()
	rcode := dnsmessage.RCodeSuccess
	if !hasIPs && !hasTXT {
		rcode = dnsmessage.RCodeNameError
	}
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RCode: rcode})
	b.EnableCompression()
	b.StartQuestions()
	b.Question(q)
	b.StartAnswers()
	rh := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 60}
	switch q.Type {
	case dnsmessage.TypeA:
		for _, a := range addrs {
			if a.Is4() {
				b.AResource(rh, dnsmessage.AResource{A: a.As4()})
			}
		}
	case dnsmessage.TypeAAAA:
		for _, a := range addrs {
			if a.Is6() {
				b.AAAAResource(rh, dnsmessage.AAAAResource{AAAA: a.As16()})
			}
		}
	case dnsmessage.TypeTXT:
		for _, v := range txt {
			b.TXTResource(rh, dnsmessage.TXTResource{TXT: []string{v}})
		}
	}
	out, err := b.Finish()
	return out, err == nil
}
