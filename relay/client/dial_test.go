package client

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/relayctl/relayctl/internal/sockbuf"
	"github.com/relayctl/relayctl/relay/key"
	"github.com/relayctl/relayctl/relay/wire"
)

// response101 is derper's exact upgrade response.
func response101(pub key.NodePublic) []byte {
	return []byte("HTTP/1.1 101 Switching Protocols\r\n" +
		"Upgrade: DERP\r\n" +
		"Connection: Upgrade\r\n" +
		"Derp-Version: 2\r\n" +
		"Derp-Public-Key: " + pub.UntypedHex() + "\r\n\r\n")
}

// fakeDERPHandler serves DERP the way derper does, over Upgrade: DERP or
// WebSocket, and hands the stream to serve. The request goes to reqs (if
// not nil) before anything is written back.
func fakeDERPHandler(t *testing.T, reqs chan<- *http.Request, serve func(*fakeServer) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if reqs != nil {
			reqs <- r
		}
		s := &fakeServer{priv: serverPriv}
		if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{"derp"}})
			if err != nil {
				t.Errorf("websocket accept: %v", err)
				return
			}
			s.conn = websocket.NetConn(context.Background(), ws, websocket.MessageBinary)
			// derper's wrapper keeps the library's default message limit.
			ws.SetReadLimit(32 << 10)
			s.br = bufio.NewReader(s.conn)
			s.websocket = true
		} else {
			conn, brw, err := w.(http.Hijacker).Hijack()
			if err != nil {
				t.Errorf("hijack: %v", err)
				return
			}
			s.conn, s.br = conn, brw.Reader
		}
		defer s.conn.Close()
		if err := serve(s); err != nil {
			t.Errorf("fake server: %v", err)
		}
	})
}

// upgradeAndHandshake is derper's side of a successful dial. The 101
// response and the ServerKey frame go out in one write, so the client must
// keep what it buffered past the response.
func upgradeAndHandshake(s *fakeServer) error {
	var head []byte
	if !s.websocket {
		head = response101(s.priv.Public())
	}
	if err := s.write(head, serverKeyFrame(s.priv.Public())); err != nil {
		return err
	}
	hello, err := s.readClientInfo()
	if err != nil {
		return err
	}
	return s.writeServerInfo(hello.pub, wire.ServerInfo{Version: 2})
}

var largestPacket = bytes.Repeat([]byte{0x5a}, wire.MaxPacketSize)

// exchange checks packets both ways after the handshake, including one
// larger than a WebSocket peer accepts in a single message.
func exchange(s *fakeServer) error {
	if err := upgradeAndHandshake(s); err != nil {
		return err
	}
	if err := expectBytes(cat(hexb("04 00000022"), raw(peerPub), []byte("up")))(s); err != nil {
		return err
	}
	if err := expectBytes(cat(hexb("04 00010020"), raw(peerPub), largestPacket))(s); err != nil {
		return err
	}
	if err := s.write(hexb("05 00000024"), raw(peerPub), []byte("down")); err != nil {
		return err
	}
	// Stay until the client hangs up.
	_, err := io.Copy(io.Discard, s.br)
	return err
}

func TestDial(t *testing.T) {
	tests := []struct {
		name      string
		tls       bool
		scheme    string // overrides http/https
		path      string
		websocket bool
		wantPath  string
	}{
		{name: "http", path: "/derp", wantPath: "/derp"},
		{name: "http-default-path", path: "", wantPath: "/derp"},
		{name: "http-other-path", path: "/relay?x=1", wantPath: "/relay?x=1"},
		{name: "https", tls: true, wantPath: "/derp"},
		{name: "websocket", websocket: true, wantPath: "/derp"},
		{name: "websocket-by-scheme", scheme: "ws", wantPath: "/derp"},
		{name: "websocket-tls", tls: true, websocket: true, wantPath: "/derp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reqs := make(chan *http.Request, 1)
			srv := httptest.NewUnstartedServer(fakeDERPHandler(t, reqs, exchange))
			opts := Options{WebSocket: tt.websocket, Header: http.Header{"Ideal-Node": {"900a"}}}
			scheme := "http"
			if tt.tls {
				srv.StartTLS()
				opts.TLSConfig = srv.Client().Transport.(*http.Transport).TLSClientConfig
				scheme = "https"
			} else {
				srv.Start()
			}
			defer srv.Close()
			if tt.scheme != "" {
				scheme = tt.scheme
			}
			serverURL := scheme + "://" + srv.Listener.Addr().String() + tt.path

			c, err := Dial(t.Context(), serverURL, clientPriv, opts)
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			defer c.Close()
			r := <-reqs
			checkUpgradeRequest(t, r, srv.Listener.Addr().String(), tt.wantPath, tt.websocket || tt.scheme == "ws")
			if c.ServerPublicKey() != serverPriv.Public() {
				t.Errorf("ServerPublicKey = %v", c.ServerPublicKey())
			}
			if tc, ok := c.conn.(*tls.Conn); ok {
				// A busy TLS stream (a mesh link) is read in large pieces.
				if _, ok := tc.NetConn().(*sockbuf.Conn); !ok {
					t.Errorf("TLS runs over a %T, want a *sockbuf.Conn", tc.NetConn())
				}
			}
			if err := c.Send(peerPub, []byte("up")); err != nil {
				t.Fatalf("Send: %v", err)
			}
			if err := c.Send(peerPub, largestPacket); err != nil {
				t.Fatalf("Send: %v", err)
			}
			m, err := c.Recv()
			if err != nil {
				t.Fatalf("Recv: %v", err)
			}
			if p, ok := m.(*ReceivedPacket); !ok || p.Source != peerPub || string(p.Data) != "down" {
				t.Errorf("Recv = %#v, want the packet \"down\"", m)
			}
		})
	}
}

func checkUpgradeRequest(t *testing.T, r *http.Request, host, wantPath string, ws bool) {
	t.Helper()
	if r.Method != http.MethodGet || r.URL.RequestURI() != wantPath || r.Proto != "HTTP/1.1" {
		t.Errorf("request line = %s %s %s, want GET %s HTTP/1.1", r.Method, r.URL.RequestURI(), r.Proto, wantPath)
	}
	if r.Host != host {
		t.Errorf("Host = %q, want %q", r.Host, host)
	}
	if got := r.Header.Get("Ideal-Node"); got != "900a" {
		t.Errorf("Ideal-Node = %q, want 900a", got)
	}
	want := map[string]string{"Connection": "Upgrade", "Upgrade": "DERP"}
	if ws {
		want = map[string]string{"Connection": "Upgrade", "Upgrade": "websocket", "Sec-Websocket-Protocol": "derp"}
	}
	for k, v := range want {
		if got := r.Header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
}

func TestDialErrors(t *testing.T) {
	refuse := func(status int, body string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(status)
			io.WriteString(w, body)
		})
	}
	longBody := strings.Repeat("x", 5000)
	tests := []struct {
		name      string
		handler   http.Handler
		websocket bool
		wantErr   string // after "derp <url>: "
	}{
		{
			name:    "upgrade-required",
			handler: refuse(http.StatusUpgradeRequired, "DERP requires connection upgrade\n"),
			wantErr: `GET failed: status 426 Upgrade Required: "DERP requires connection upgrade\n"`,
		},
		{
			name:    "body-cut-at-1KiB",
			handler: refuse(http.StatusOK, longBody),
			wantErr: `GET failed: status 200 OK: "` + longBody[:1024] + `"`,
		},
		{
			name:      "websocket-refused",
			handler:   refuse(http.StatusNotFound, "derp server disabled\n"),
			websocket: true,
			wantErr:   "websocket dial: status 404 Not Found: ",
		},
		{
			name: "handshake-fails",
			handler: fakeDERPHandler(t, nil, func(s *fakeServer) error {
				return s.write(response101(s.priv.Public()), hexb("06 00000000"))
			}),
			wantErr: "handshake: first frame is KeepAlive (0 bytes), want ServerKey",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			serverURL := srv.URL + "/derp"
			c, err := Dial(t.Context(), serverURL, clientPriv, Options{WebSocket: tt.websocket})
			if err == nil {
				c.Close()
				t.Fatal("Dial succeeded")
			}
			if want := "derp " + serverURL + ": " + tt.wantErr; !strings.HasPrefix(err.Error(), want) {
				t.Errorf("error\n%q\nwant prefix\n%q", err, want)
			}
		})
	}
}

func TestDialBadURL(t *testing.T) {
	for _, u := range []string{"ftp://127.0.0.1/derp", "http:///derp", "://x"} {
		if c, err := Dial(t.Context(), u, clientPriv, Options{}); err == nil {
			c.Close()
			t.Errorf("Dial(%q) succeeded", u)
		}
	}
}

func TestDialRefusedNamesURL(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serverURL := "http://" + ln.Addr().String() + "/derp"
	ln.Close()
	_, err = Dial(t.Context(), serverURL, clientPriv, Options{})
	if err == nil || !strings.HasPrefix(err.Error(), "derp "+serverURL+": ") {
		t.Errorf("error = %v, want one naming %s", err, serverURL)
	}
}

// TestDialContext ends the context at each stage of the dial and checks
// that Dial returns the context's error and closes the connection.
func TestDialContext(t *testing.T) {
	stall := map[string]func(*fakeServer) error{
		"before-101": func(*fakeServer) error { return nil },
		"before-server-key": func(s *fakeServer) error {
			return s.write(response101(s.priv.Public()))
		},
		"before-server-info": func(s *fakeServer) error {
			if err := s.write(response101(s.priv.Public()), serverKeyFrame(s.priv.Public())); err != nil {
				return err
			}
			_, err := s.readClientInfo()
			return err
		},
		"websocket-before-server-key": func(*fakeServer) error { return nil },
	}
	for _, cause := range []string{"cancel", "deadline"} {
		for stage, script := range stall {
			t.Run(cause+"-"+stage, func(t *testing.T) {
				stalled := make(chan struct{})
				hungUp := make(chan error, 1)
				srv := httptest.NewServer(fakeDERPHandler(t, nil, func(s *fakeServer) error {
					if err := script(s); err != nil {
						return err
					}
					close(stalled)
					// Dial must close the connection when it gives up.
					_, err := io.Copy(io.Discard, s.br)
					hungUp <- err
					return nil
				}))
				defer srv.Close()

				ctx, cancel := context.WithCancel(t.Context())
				wantErr := context.Canceled
				if cause == "deadline" {
					ctx, cancel = context.WithTimeout(t.Context(), 100*time.Millisecond)
					wantErr = context.DeadlineExceeded
				} else {
					go func() { <-stalled; cancel() }()
				}
				defer cancel()
				opts := Options{WebSocket: strings.HasPrefix(stage, "websocket")}
				c, err := Dial(ctx, srv.URL, clientPriv, opts)
				if err == nil {
					c.Close()
					t.Fatal("Dial succeeded")
				}
				if !errors.Is(err, wantErr) {
					t.Errorf("error %q is not %v", err, wantErr)
				}
				select {
				case err := <-hungUp:
					if err != nil && !isClosedErr(err) {
						t.Errorf("server saw %v, want a clean hang-up", err)
					}
				case <-time.After(10 * time.Second):
					t.Error("Dial left the connection open")
				}
			})
		}
	}
}

func isClosedErr(err error) bool {
	var ce websocket.CloseError
	return errors.As(err, &ce) || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || strings.Contains(err.Error(), "connection reset")
}
