package server_test

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/relayctl/relayctl/internal/metrics"
	"github.com/relayctl/relayctl/internal/waitfor"
	"github.com/relayctl/relayctl/relay/client"
	"github.com/relayctl/relayctl/relay/key"
	"github.com/relayctl/relayctl/relay/server"
)

// testRelay is a server.Server behind a loopback TCP listener, without
// HTTP: connections go straight to Accept.
type testRelay struct {
	t   testing.TB
	srv *server.Server
	reg *metrics.Registry
	ln  net.Listener
	wg  sync.WaitGroup
}

func newTestRelay(t *testing.T, opts server.Options) *testRelay { return newTestRelayTB(t, opts) }

func newTestRelayTB(t testing.TB, opts server.Options) *testRelay {
	t.Helper()
	if opts.PrivateKey.IsZero() {
		opts.PrivateKey = key.NewNode()
	}
	if opts.Metrics == nil {
		opts.Metrics = metrics.NewRegistry()
	}
	srv, err := server.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &testRelay{t: t, srv: srv, reg: opts.Metrics, ln: ln}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			r.wg.Add(1)
			go func() {
				defer r.wg.Done()
				ap := c.RemoteAddr().(*net.TCPAddr).AddrPort()
				srv.Accept(context.Background(), c, nil, server.ConnInfo{RemoteAddr: netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())})
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		srv.Close()
		r.wg.Wait()
	})
	return r
}

// dialRaw opens a TCP connection to the relay.
func (r *testRelay) dialRaw() net.Conn {
	r.t.Helper()
	c, err := net.Dial("tcp", r.ln.Addr().String())
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { c.Close() })
	return c
}

// connect makes a DERP client with a fresh key (or priv, if given).
func (r *testRelay) connect(opts client.Options, priv ...key.NodePrivate) *client.Client {
	r.t.Helper()
	p := key.NewNode()
	if len(priv) > 0 {
		p = priv[0]
	}
	nc := r.dialRaw()
	ctx, cancel := context.WithTimeout(r.t.Context(), 5*time.Second)
	defer cancel()
	c, err := client.NewClient(ctx, nc, bufio.NewReader(nc), p, opts)
	if err != nil {
		r.t.Fatalf("connect: %v", err)
	}
	r.t.Cleanup(func() { c.Close() })
	r.waitFor("client registered", func() bool { return r.srv.ConnCount() > 0 })
	return c
}

// waitFor polls cond until it holds or 5 s pass.
func (r *testRelay) waitFor(what string, cond func() bool) {
	r.t.Helper()
	waitFor(r.t, what, cond)
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	waitfor.Until(t, 5*time.Second, 2*time.Millisecond, what, cond)
}

// recvPacket reads until a packet arrives, skipping keepalives, and
// returns a copy of it.
func recvPacket(t *testing.T, c *client.Client) (key.NodePublic, []byte) {
	t.Helper()
	for {
		m, err := c.Recv()
		if err != nil {
			t.Fatalf("recv: %v", err)
		}
		switch m := m.(type) {
		case *client.ReceivedPacket:
			return m.Source, append([]byte(nil), m.Data...)
		case client.KeepAlive:
		default:
			t.Fatalf("recv: got %T %+v, want a packet", m, m)
		}
	}
}

// recvMessage reads the next non-keepalive message.
func recvMessage(t *testing.T, c *client.Client) client.Message {
	t.Helper()
	for {
		m, err := c.Recv()
		if err != nil {
			t.Fatalf("recv: %v", err)
		}
		if _, ok := m.(client.KeepAlive); !ok {
			if p, ok := m.(*client.ReceivedPacket); ok {
				cp := *p
				cp.Data = append([]byte(nil), p.Data...)
				return &cp
			}
			return m
		}
	}
}

// expectClosed reads until the server closes the connection.
func expectClosed(t *testing.T, c *client.Client) {
	t.Helper()
	for {
		_, err := c.Recv()
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("connection still open: %v", err)
			}
			return
		}
	}
}

// counter reads a metric's value from the registry's text output.
func (r *testRelay) metric(line string) string {
	var b stringsBuilder
	r.reg.WritePrometheus(&b)
	return b.find(line)
}
