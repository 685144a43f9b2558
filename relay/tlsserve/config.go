// Package tlsserve is the server side of a relay's TLS: certificates from
// files that can be rotated while the relay runs, the "derpkey" metacert
// that lets Tailscale clients skip a round trip, and the tls.Config that
// puts them together.
package tlsserve

import "crypto/tls"

// GetCertificateFunc picks the certificate for a handshake, as
// tls.Config.GetCertificate does.
type GetCertificateFunc = func(*tls.ClientHelloInfo) (*tls.Certificate, error)

// ServerConfig is the TLS configuration for a relay's listener: TLS 1.2 at
// least, and ALPN "http/1.1" (DERP clients send no ALPN; the upgrade to
// DERP needs HTTP/1.1) plus extraProtos, such as "acme-tls/1" for ACME's
// TLS-ALPN-01 challenge. Serve it with tls.NewListener and
// http.Server.Serve: http.Server.ServeTLS would add "h2".
func ServerConfig(get GetCertificateFunc, extraProtos ...string) *tls.Config {
	protos := append([]string{"http/1.1"}, extraProtos...)
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		NextProtos:     protos,
		GetCertificate: get,
	}
}
