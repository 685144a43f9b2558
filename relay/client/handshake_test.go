package client

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/relayctl/relayctl/relay/key"
	"github.com/relayctl/relayctl/relay/wire"
)

func TestHandshakeClientInfo(t *testing.T) {
	mesh, err := key.ParseMeshKey(strings.Repeat("ab", 32))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"plain", Options{}, `{"version":2,"CanAckPings":false}`},
		{"tailscaled", Options{CanAckPings: true}, `{"version":2,"CanAckPings":true}`},
		{"prober", Options{IsProber: true, AppName: "relayctl-probe"}, `{"version":2,"CanAckPings":false,"IsProber":true,"AppName":"relayctl-probe"}`},
		{"mesh", Options{MeshKey: mesh}, `{"meshKey":"` + strings.Repeat("ab", 32) + `","version":2,"CanAckPings":false}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hellos := make(chan clientHello, 1)
			conn, done := startFake(t, func(s *fakeServer) error {
				hello, err := s.handshake()
				hellos <- hello
				return err
			})
			c, err := NewClient(t.Context(), conn, nil, clientPriv, tt.opts)
			if err != nil {
				t.Fatalf("NewClient: %v", err)
			}
			if err := waitScript(t, done); err != nil {
				t.Fatalf("server: %v", err)
			}
			hello := <-hellos
			if hello.pub != clientPriv.Public() {
				t.Errorf("ClientInfo key = %v, want %v", hello.pub, clientPriv.Public())
			}
			if hello.json != tt.want {
				t.Errorf("ClientInfo JSON = %s, want %s", hello.json, tt.want)
			}
			if c.ServerPublicKey() != serverPriv.Public() {
				t.Errorf("ServerPublicKey = %v, want %v", c.ServerPublicKey(), serverPriv.Public())
			}
			if c.PublicKey() != clientPriv.Public() {
				t.Errorf("PublicKey = %v, want %v", c.PublicKey(), clientPriv.Public())
			}
			if c.ServerInfo() != (wire.ServerInfo{Version: 2}) {
				t.Errorf("ServerInfo = %+v", c.ServerInfo())
			}
		})
	}
}

func TestHandshakeAcceptsLongServerKeyAndTokenBucket(t *testing.T) {
	want := wire.ServerInfo{Version: 2, TokenBucketBytesPerSecond: 1000, TokenBucketBytesBurst: 2000}
	conn, done := startFake(t, func(s *fakeServer) error {
		// 1024 bytes is the longest ServerKey; the tail is ignored.
		long := cat(hexb("01 00000400"), []byte("DERP🔑"), raw(s.priv.Public()), bytes.Repeat([]byte{0xee}, 1024-40))
		if err := s.write(long); err != nil {
			return err
		}
		hello, err := s.readClientInfo()
		if err != nil {
			return err
		}
		return s.writeServerInfo(hello.pub, want)
	})
	c, err := NewClient(t.Context(), conn, nil, clientPriv, Options{})
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	if err := waitScript(t, done); err != nil {
		t.Fatalf("server: %v", err)
	}
	if c.ServerInfo() != want {
		t.Errorf("ServerInfo = %+v, want %+v", c.ServerInfo(), want)
	}
}

func TestHandshakeErrors(t *testing.T) {
	keepAlive := hexb("06 00000000")
	tests := []struct {
		name    string
		script  func(*fakeServer) error
		wantErr string
	}{
		{
			name: "bad-magic",
			script: func(s *fakeServer) error {
				return s.write(hexb("01 00000028"), []byte("DERP🔒"), raw(s.priv.Public()))
			},
			wantErr: "bad magic",
		},
		{
			name: "short-server-key",
			script: func(s *fakeServer) error {
				return s.write(hexb("01 00000027"), []byte("DERP🔑"), raw(s.priv.Public())[:31])
			},
			wantErr: "ServerKey frame of 39 bytes, want at least 40",
		},
		{
			name:    "long-server-key",
			script:  func(s *fakeServer) error { return s.write(hexb("01 00000401")) },
			wantErr: "ServerKey frame of 1025 bytes: frame too large (limit 1024)",
		},
		{
			name:    "keepalive-before-server-key",
			script:  func(s *fakeServer) error { return s.write(keepAlive) },
			wantErr: "first frame is KeepAlive (0 bytes), want ServerKey",
		},
		{
			// An HTTP response where frames should be: 'H' then a length of ~1.4 GB.
			name:    "http-instead-of-frames",
			script:  func(s *fakeServer) error { return s.write([]byte("HTTP/1.1 101 Switching Protocols\r\n")) },
			wantErr: "first frame is frame(0x48)",
		},
		{
			name: "server-info-not-first",
			script: func(s *fakeServer) error {
				if err := s.write(serverKeyFrame(s.priv.Public())); err != nil {
					return err
				}
				if _, err := s.readClientInfo(); err != nil {
					return err
				}
				return s.write(keepAlive)
			},
			wantErr: "frame after ServerKey is KeepAlive (0 bytes), want ServerInfo",
		},
		{
			name: "server-info-wrong-key",
			script: func(s *fakeServer) error {
				if err := s.write(serverKeyFrame(s.priv.Public())); err != nil {
					return err
				}
				hello, err := s.readClientInfo()
				if err != nil {
					return err
				}
				impostor := fakeServer{conn: s.conn, priv: key.NewNode()}
				return impostor.writeServerInfo(hello.pub, wire.ServerInfo{Version: 2})
			},
			wantErr: key.ErrOpen.Error(),
		},
		{
			name: "oversized-server-info",
			script: func(s *fakeServer) error {
				if err := s.write(serverKeyFrame(s.priv.Public())); err != nil {
					return err
				}
				if _, err := s.readClientInfo(); err != nil {
					return err
				}
				return s.write(hexb("03 00100001"))
			},
			wantErr: wire.ErrFrameTooLarge.Error(),
		},
		{
			name: "eof-after-server-key",
			script: func(s *fakeServer) error {
				if err := s.write(serverKeyFrame(s.priv.Public())); err != nil {
					return err
				}
				if _, err := s.readClientInfo(); err != nil {
					return err
				}
				return s.conn.Close()
			},
			wantErr: io.EOF.Error(),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, done := startFake(t, tt.script)
			c, err := NewClient(t.Context(), conn, nil, clientPriv, Options{})
			if err == nil {
				c.Close()
				t.Fatal("NewClient succeeded")
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not contain %q", err, tt.wantErr)
			}
			if !strings.HasPrefix(err.Error(), "derp pipe: handshake: ") {
				t.Errorf("error %q lacks the server's name", err)
			}
			conn.Close()
			if err := waitScript(t, done); err != nil && !errors.Is(err, io.ErrClosedPipe) {
				t.Errorf("server: %v", err)
			}
		})
	}
}
