package tlsserve

import (
	"bufio"
	"crypto/tls"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relayctl/relayctl/internal/certs"
	"github.com/relayctl/relayctl/internal/syncbuf"
	"github.com/relayctl/relayctl/internal/testcert"
)

// makePair is a self-signed certificate as spec says and its key, in PEM.
func makePair(t *testing.T, spec testcert.Spec) (certPEM, keyPEM []byte) {
	t.Helper()
	return testcert.PEM(t, testcert.New(t, spec))
}

// pinOf is the sha256-raw pin of the first certificate in certPEM.
func pinOf(t *testing.T, certPEM []byte) string {
	t.Helper()
	block, _ := pem.Decode(certPEM)
	if block == nil {
		t.Fatalf("no PEM in %q", certPEM)
	}
	return certs.CertName(block.Bytes)
}

// writeFiles puts a pair where Manual looks for hostname's files.
func writeFiles(t *testing.T, dir, hostname string, certPEM, keyPEM []byte) {
	t.Helper()
	crt, key := certs.Paths(dir, hostname)
	if err := certs.WritePair(crt, key, certPEM, keyPEM, true); err != nil {
		t.Fatal(err)
	}
}

// logBuffer is a concurrency-safe slog sink for checking what was logged.
type logBuffer struct{ syncbuf.Buffer }

func (b *logBuffer) count(s string) int { return strings.Count(b.String(), s) }

func newLogger(b *logBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// startEchoTLS serves TLS with cfg on loopback; every connection echoes
// lines back until it closes.
func startEchoTLS(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	var conns sync.Map
	t.Cleanup(func() {
		conns.Range(func(k, _ any) bool { k.(net.Conn).Close(); return true })
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Store(c, true)
			wg.Go(func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					line, err := br.ReadString('\n')
					if err != nil {
						return
					}
					if _, err := io.WriteString(c, line); err != nil {
						return
					}
				}
			})
		}
	})
	return ln.Addr().String()
}

// startMetaEchoTLS is startEchoTLS serving get's certificate with the
// metacert for testServerKey appended, as a DERP server does; it returns
// the address and the wrapped get.
func startMetaEchoTLS(t *testing.T, get GetCertificateFunc) (string, GetCertificateFunc) {
	t.Helper()
	withMeta, err := WithMetaCert(get, testServerKey)
	if err != nil {
		t.Fatal(err)
	}
	return startEchoTLS(t, ServerConfig(withMeta)), withMeta
}

// dialTLS completes a handshake that trusts whatever the server presents,
// so a test can look at what that was.
func dialTLS(t *testing.T, addr, serverName string, maxVersion uint16) (*tls.Conn, error) {
	t.Helper()
	d := &tls.Dialer{Config: &tls.Config{
		InsecureSkipVerify: true,
		ServerName:         serverName,
		MinVersion:         tls.VersionTLS10, // so an old-version attempt reaches the server
		MaxVersion:         maxVersion,
	}}
	c, err := d.DialContext(t.Context(), "tcp", addr)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { c.Close() })
	return c.(*tls.Conn), nil
}

// leafPin is the pin of the first non-metacert the server presented.
func leafPin(t *testing.T, c *tls.Conn) string {
	t.Helper()
	for _, pc := range c.ConnectionState().PeerCertificates {
		if !certs.IsMetaCert(pc) {
			return certs.CertName(pc.Raw)
		}
	}
	t.Fatal("server presented no leaf")
	return ""
}

// echo sends a line over c and requires it back.
func echo(t *testing.T, c *tls.Conn, msg string) {
	t.Helper()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := io.WriteString(c, msg+"\n"); err != nil {
		t.Fatalf("echo write: %v", err)
	}
	got := make([]byte, len(msg)+1)
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("echo read: %v", err)
	}
	if string(got) != msg+"\n" {
		t.Fatalf("echo got %q, want %q", got, msg)
	}
}

var errNoCert = errors.New("no certificate")
