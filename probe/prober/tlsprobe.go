package prober

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/relayctl/relayctl/internal/derpmap"
	"github.com/relayctl/relayctl/internal/render"
	"github.com/relayctl/relayctl/relay/client"
)

func (p *Prober) checkTLS(n *derpmap.DERPNode) func(context.Context, *Result) {
	return func(ctx context.Context, r *Result) {
		if p.cfg.PlainHTTP {
			r.Status = StatusSkip
			r.Detail = "plain HTTP (TS_DEBUG_USE_DERP_HTTP)"
			return
		}
		cfg := client.NodeTLSConfig(n, p.cfg.RootCAs, p.cfg.Now)
		// Keep what the server presented even when verification fails, so
		// that the expiry is known for a rejected certificate too.
		var presented []*x509.Certificate
		verify := cfg.VerifyConnection
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			presented = client.WithoutMetaCerts(cs.PeerCertificates)
			return verify(cs)
		}
		addr := net.JoinHostPort(n.DialHost(), strconv.Itoa(n.DERPPortFor(false)))
		d := tls.Dialer{Config: cfg}
		start := time.Now()
		conn, err := d.DialContext(ctx, "tcp", addr)
		if len(presented) > 0 {
			r.CertExpiry = presented[0].NotAfter
		}
		if err != nil {
			fail(ctx, r, fmt.Errorf("TLS to %s (%s): %w", n.HostName, addr, err))
			return
		}
		r.Latency = time.Since(start)
		conn.Close()
		p.judgeExpiry(n, r)
	}
}

// judgeExpiry turns a passing TLS result into a warning when the
// certificate expires within CertWarnBefore, and describes the expiry.
// Verification already failed expired certificates, except on
// InsecureForTests nodes, where expiry is only a warning.
func (p *Prober) judgeExpiry(n *derpmap.DERPNode, r *Result) {
	if r.CertExpiry.IsZero() {
		return
	}
	left := r.CertExpiry.Sub(p.cfg.Now())
	date := r.CertExpiry.UTC().Format("2006-01-02")
	switch {
	case left <= 0:
		r.Status = StatusWarn
		r.Detail = fmt.Sprintf("certificate expired %s (%s ago; not verified: InsecureForTests)", date, render.Age(-left))
	case left < p.cfg.CertWarnBefore:
		r.Status = StatusWarn
		r.Detail = fmt.Sprintf("certificate expires %s, in %s", date, render.Age(left))
	default:
		r.Detail = fmt.Sprintf("certificate expires %s, in %s", date, render.Age(left))
	}
	if n.InsecureForTests && left > 0 {
		r.Detail += " (not verified: InsecureForTests)"
	}
}
