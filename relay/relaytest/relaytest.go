// Package relaytest runs a relay inside a test's process, on loopback: a
// relay/server behind the HTTP handler relayctl serve uses, over plain
// HTTP or TLS, with a STUN server when asked; and a Client that notices
// when the relay ends its connection. The tests of the packages that talk
// to a relay (probe, the load generator, bench, prune, admin) share it;
// tests of a real relayctl binary use the interop module instead.
package relaytest

import (
	"context"
	"crypto/tls"
	"net"
	"net/http/httptest"
	"testing"

	"github.com/relayctl/relayctl/relay/key"
	"github.com/relayctl/relayctl/relay/server"
	"github.com/relayctl/relayctl/relay/stunserver"
	"github.com/relayctl/relayctl/relay/web"
)

// Options choose how the relay runs.
type Options struct {
	// Server configures the relay; a zero PrivateKey gets a fresh key.
	Server server.Options
	// Hostname is the name the home page shows (web.Options.Hostname).
	Hostname string
	// Certificate, when set, makes the relay serve HTTPS with it.
	Certificate *tls.Certificate
	// STUN runs a STUN server on a loopback UDP port too.
	STUN bool
}

// Relay is a running relay. It stops when the test ends.
type Relay struct {
	Server *server.Server
	// URL is http://127.0.0.1:port or https://…, without the /derp path.
	URL  string
	Port int
	// STUNPort is the STUN server's port; 0 without STUN.
	STUNPort int
}

// Start runs a relay for t.
func Start(t testing.TB, o Options) *Relay {
	t.Helper()
	if o.Server.PrivateKey.IsZero() {
		o.Server.PrivateKey = key.NewNode()
	}
	srv, err := server.New(o.Server)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h, err := web.NewHandler(web.Options{DERP: web.DERPHandler(ctx, srv, nil), Hostname: o.Hostname})
	if err != nil {
		cancel()
		srv.Close()
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(h)
	if o.Certificate != nil {
		hs.TLS = &tls.Config{Certificates: []tls.Certificate{*o.Certificate}}
		hs.StartTLS()
	} else {
		hs.Start()
	}
	r := &Relay{Server: srv, URL: hs.URL, Port: hs.Listener.Addr().(*net.TCPAddr).Port}
	t.Cleanup(func() {
		hs.CloseClientConnections()
		hs.Close()
		cancel()
		h.Close()
		srv.Close()
	})
	if o.STUN {
		st := stunserver.New(nil, nil)
		if err := st.Listen("127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		go st.Serve(ctx)
		r.STUNPort = st.LocalAddr().(*net.UDPAddr).Port
	}
	return r
}
