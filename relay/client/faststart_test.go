package client

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relayctl/relayctl/internal/certs"
	"github.com/relayctl/relayctl/internal/derpmap"
	"github.com/relayctl/relayctl/internal/testcert"
	"github.com/relayctl/relayctl/relay/key"
	"github.com/relayctl/relayctl/relay/server"
	"github.com/relayctl/relayctl/relay/tlsserve"
	"github.com/relayctl/relayctl/relay/web"
	"github.com/relayctl/relayctl/relay/wire"
)

func certWith(cn string, serial int64) *x509.Certificate {
	return &x509.Certificate{Subject: pkix.Name{CommonName: cn}, SerialNumber: big.NewInt(serial)}
}

func TestFastStartServerKey(t *testing.T) {
	pub := serverPriv.Public()
	good := "derpkey" + pub.UntypedHex()
	leaf := certWith("127.0.0.1", 12345)
	tests := []struct {
		name    string
		version uint16
		chain   []*x509.Certificate
		want    bool
	}{
		{"tls13_with_metacert", tls.VersionTLS13, []*x509.Certificate{leaf, certWith(good, 2)}, true},
		{"tls13_upper_case_hex", tls.VersionTLS13, []*x509.Certificate{leaf, certWith("derpkey"+strings.ToUpper(pub.UntypedHex()), 2)}, true},
		{"tls13_version_255", tls.VersionTLS13, []*x509.Certificate{leaf, certWith(good, 255)}, true},
		{"tls12_with_metacert", tls.VersionTLS12, []*x509.Certificate{leaf, certWith(good, 2)}, false},
		{"tls13_no_metacert", tls.VersionTLS13, []*x509.Certificate{leaf}, false},
		{"serial_zero", tls.VersionTLS13, []*x509.Certificate{leaf, certWith(good, 0)}, false},
		{"serial_256", tls.VersionTLS13, []*x509.Certificate{leaf, certWith(good, 256)}, false},
		{"short_key", tls.VersionTLS13, []*x509.Certificate{leaf, certWith(good[:len(good)-2], 2)}, false},
		{"not_hex", tls.VersionTLS13, []*x509.Certificate{leaf, certWith("derpkey"+strings.Repeat("zz", 32), 2)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := fastStartServerKey(tls.ConnectionState{Version: tt.version, PeerCertificates: tt.chain})
			if ok != tt.want {
				t.Fatalf("ok = %v, want %v", ok, tt.want)
			}
			if ok && got != pub {
				t.Fatalf("key %s, want %s", got.ShortString(), pub.ShortString())
			}
		})
	}
}

// pinnedTLS trusts exactly the certificate pinned by certName, the way a
// DERP map node with CertName "sha256-raw:…" is trusted.
func pinnedTLS(t *testing.T, certName string, maxVersion uint16) *tls.Config {
	t.Helper()
	cfg := NodeTLSConfig(&derpmap.DERPNode{CertName: certName}, nil, nil)
	cfg.MaxVersion = maxVersion
	return cfg
}

// tlsRelay is relay/server behind relay/web over TLS with the metacert,
// the stack `serve --certmode manual` runs. It records each upgrade
// request's Derp-Fast-Start header.
type tlsRelay struct {
	url       string
	pin       string
	serverKey key.NodePublic

	mu         sync.Mutex
	fastStarts []string
}

func startTLSRelay(t *testing.T) *tlsRelay {
	t.Helper()
	priv := key.NewNode()
	srv, err := server.New(server.Options{PrivateKey: priv})
	if err != nil {
		t.Fatal(err)
	}
	leaf := testcert.ValidNow(t, "127.0.0.1")
	pin := certs.CertName(leaf.Certificate[0])
	get, err := tlsserve.WithMetaCert(func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &leaf, nil }, priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	r := &tlsRelay{pin: pin, serverKey: priv.Public()}
	derp := web.DERPHandler(t.Context(), srv, nil)
	mux := http.NewServeMux()
	mux.HandleFunc("/derp", func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.fastStarts = append(r.fastStarts, req.Header.Get("Derp-Fast-Start"))
		r.mu.Unlock()
		derp.ServeHTTP(w, req)
	})
	ln, err := tls.Listen("tcp", "127.0.0.1:0", tlsserve.ServerConfig(get))
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	go hs.Serve(ln)
	t.Cleanup(func() {
		hs.Close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		srv.Shutdown(ctx, 0, time.Second)
	})
	r.url = "https://" + ln.Addr().String() + "/derp"
	return r
}

func (r *tlsRelay) fastStartHeaders() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.fastStarts...)
}

// recvPacket waits for the next packet, skipping other messages.
func recvPacket(t *testing.T, c *Client) (key.NodePublic, string) {
	t.Helper()
	for range 10 {
		m, err := c.Recv()
		if err != nil {
			t.Fatalf("recv: %v", err)
		}
		if p, ok := m.(*ReceivedPacket); ok {
			return p.Source, string(p.Data)
		}
	}
	t.Fatal("no packet among the first 10 messages")
	return key.NodePublic{}, ""
}

func TestDialFastStartOverTLS(t *testing.T) {
	tests := []struct {
		name       string
		maxVersion uint16
		wantHeader string
	}{
		{"tls13_fast_start", 0, "1"},
		{"tls12_upgrade", tls.VersionTLS12, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			relay := startTLSRelay(t)
			opts := Options{TLSConfig: pinnedTLS(t, relay.pin, tt.maxVersion), RecvTimeout: 5 * time.Second}
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			a, err := Dial(ctx, relay.url, key.NewNode(), opts)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			b, err := Dial(ctx, relay.url, key.NewNode(), opts)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			for _, c := range []*Client{a, b} {
				if c.ServerPublicKey() != relay.serverKey {
					t.Fatalf("server key %s, want %s", c.ServerPublicKey().ShortString(), relay.serverKey.ShortString())
				}
				if c.ServerInfo().Version != wire.ProtocolVersion {
					t.Fatalf("ServerInfo %+v", c.ServerInfo())
				}
			}
			if got := relay.fastStartHeaders(); len(got) != 2 || got[0] != tt.wantHeader || got[1] != tt.wantHeader {
				t.Fatalf("Derp-Fast-Start headers %q, want two of %q", got, tt.wantHeader)
			}
			if err := a.Send(b.PublicKey(), []byte("hello over TLS")); err != nil {
				t.Fatal(err)
			}
			if src, data := recvPacket(t, b); src != a.PublicKey() || data != "hello over TLS" {
				t.Fatalf("b got %q from %s", data, src.ShortString())
			}
			if err := b.Send(a.PublicKey(), []byte("and back")); err != nil {
				t.Fatal(err)
			}
			if src, data := recvPacket(t, a); src != b.PublicKey() || data != "and back" {
				t.Fatalf("a got %q from %s", data, src.ShortString())
			}
		})
	}
}

func TestDialWrongPinRefused(t *testing.T) {
	relay := startTLSRelay(t)
	otherPin := certs.CertName(testcert.ValidNow(t, "127.0.0.1").Certificate[0])
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	_, err := Dial(ctx, relay.url, key.NewNode(), Options{TLSConfig: pinnedTLS(t, otherPin, 0)})
	if err == nil || !strings.Contains(err.Error(), "CertName pin mismatch") {
		t.Fatalf("dial with a wrong pin: %v, want a pin error", err)
	}
	if got := relay.fastStartHeaders(); len(got) != 0 {
		t.Fatalf("a request reached the server after a failed pin: %q", got)
	}
}

// scriptedTLSServer accepts one TLS connection presenting a metacert for
// metaKey and hands the raw stream to script.
func scriptedTLSServer(t *testing.T, metaKey key.NodePublic, script func(conn net.Conn, br *bufio.Reader) error) (url, pin string, done <-chan error) {
	t.Helper()
	leaf := testcert.ValidNow(t, "127.0.0.1")
	pin = certs.CertName(leaf.Certificate[0])
	get, err := tlsserve.WithMetaCert(func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &leaf, nil }, metaKey)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", tlsserve.ServerConfig(get))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	errc := make(chan error, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			errc <- err
			return
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		errc <- script(conn, bufio.NewReader(conn))
	}()
	return "https://" + ln.Addr().String() + "/derp", pin, errc
}

// TestDialFastStartWire checks the bytes: the request and ClientInfo
// arrive together, the client waits for no HTTP response, and it takes
// the ServerKey frame that still comes.
func TestDialFastStartWire(t *testing.T) {
	url, pin, done := scriptedTLSServer(t, serverPriv.Public(), func(conn net.Conn, br *bufio.Reader) error {
		req, err := http.ReadRequest(br)
		if err != nil {
			return err
		}
		if got := req.Header.Get("Derp-Fast-Start"); got != "1" {
			return fmt.Errorf("Derp-Fast-Start %q, want 1", got)
		}
		if req.Header.Get("Upgrade") != "DERP" || req.URL.Path != "/derp" {
			return fmt.Errorf("request %s %s Upgrade %q", req.Method, req.URL, req.Header.Get("Upgrade"))
		}
		// One write carried both: ClientInfo is buffered behind the request.
		if br.Buffered() < wire.FrameHeaderLen {
			return fmt.Errorf("only %d bytes follow the request in its TLS record, want the ClientInfo frame", br.Buffered())
		}
		s := &fakeServer{conn: conn, br: br, priv: serverPriv}
		hello, err := s.readClientInfo()
		if err != nil {
			return fmt.Errorf("ClientInfo sealed to the metacert key: %w", err)
		}
		if err := s.write(serverKeyFrame(serverPriv.Public())); err != nil {
			return err
		}
		if err := s.writeServerInfo(hello.pub, wire.ServerInfo{Version: 2}); err != nil {
			return err
		}
		t, p, err := s.readFrame()
		if err != nil {
			return err
		}
		if t != wire.FrameSendPacket || string(p[32:]) != "after fast start" {
			return fmt.Errorf("got %v %q, want the client's packet", t, p)
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, url, clientPriv, Options{TLSConfig: pinnedTLS(t, pin, 0)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Send(peerPub, []byte("after fast start")); err != nil {
		t.Fatal(err)
	}
	if err := waitScript(t, done); err != nil {
		t.Fatal(err)
	}
}

func TestDialFastStartServerKeyMismatch(t *testing.T) {
	url, pin, done := scriptedTLSServer(t, peerPub, func(conn net.Conn, br *bufio.Reader) error {
		if _, err := http.ReadRequest(br); err != nil {
			return err
		}
		s := &fakeServer{conn: conn, br: br, priv: serverPriv}
		return s.write(serverKeyFrame(serverPriv.Public()))
	})
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	_, err := Dial(ctx, url, clientPriv, Options{TLSConfig: pinnedTLS(t, pin, 0)})
	if err == nil || !strings.Contains(err.Error(), "metacert") {
		t.Fatalf("dial: %v, want a metacert key mismatch", err)
	}
	if err := waitScript(t, done); err != nil {
		t.Fatal(err)
	}
}

// TestDialHeaderCannotForceFastStart: a caller's header must not promise
// the server a client that reads no response.
func TestDialHeaderCannotForceFastStart(t *testing.T) {
	relay := startTLSRelay(t)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, relay.url, key.NewNode(), Options{
		TLSConfig: pinnedTLS(t, relay.pin, tls.VersionTLS12),
		Header:    http.Header{"Derp-Fast-Start": {"1"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if got := relay.fastStartHeaders(); len(got) != 1 || got[0] != "" {
		t.Fatalf("Derp-Fast-Start headers %q, want none sent", got)
	}
}
