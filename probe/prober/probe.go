package prober

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/relayctl/relayctl/internal/derpmap"
	"github.com/relayctl/relayctl/relay/key"
)

// Config says how to probe. DefaultConfig is the usual start; the zero
// value probes every region over TLS with system roots and no mesh key,
// and never warns of a certificate's coming expiry.
type Config struct {
	// Regions limits probing to these region IDs; empty means all.
	Regions []int
	// MeshKey, when set, makes the DERP clients mesh-privileged on the
	// nodes of MeshRegions, so that they pass nodes that admit only known
	// clients. Other nodes never see it (see meshKeyFor).
	MeshKey     key.MeshKey
	MeshRegions []int
	// PlainHTTP dials DERP over plain HTTP (default port 3340) and skips
	// TLS probes, as Tailscale clients do with TS_DEBUG_USE_DERP_HTTP=1.
	PlainHTTP bool
	// RootCAs verifies node certificates; nil means the system roots.
	RootCAs *x509.CertPool
	// CertWarnBefore turns a passing TLS probe into a warning when the
	// certificate expires sooner; 0 means no such warning.
	CertWarnBefore time.Duration
	// BandwidthSize, when positive, adds a bandwidth probe per node that
	// moves this many bytes between two clients.
	BandwidthSize int
	// Resolver looks up HostName for nodes without forced addresses; nil
	// means net.DefaultResolver.
	Resolver *net.Resolver
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger gets debug detail of individual probes; nil discards.
	Logger *slog.Logger
}

// DefaultCertWarnBefore is how close to expiry a certificate turns its TLS
// probe into a warning.
const DefaultCertWarnBefore = 14 * 24 * time.Hour

// DefaultConfig is a Config with CertWarnBefore at DefaultCertWarnBefore.
func DefaultConfig() Config {
	return Config{CertWarnBefore: DefaultCertWarnBefore}
}

// Prober plans and runs probes for a DERP map.
type Prober struct {
	cfg Config
}

// CertWarnBefore is how long before expiry a certificate is reported.
func (p *Prober) CertWarnBefore() time.Duration { return p.cfg.CertWarnBefore }

// New returns a Prober for cfg.
func New(cfg Config) *Prober {
	if cfg.Resolver == nil {
		cfg.Resolver = net.DefaultResolver
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Prober{cfg: cfg}
}

// Probe is one check of one node (or one ordered pair of nodes).
type Probe struct {
	Name   string
	Region *derpmap.DERPRegion
	Node   *derpmap.DERPNode
	Peer   *derpmap.DERPNode // destination of a mesh probe; nil otherwise
	Class  Class

	check func(ctx context.Context, r *Result)
}

// newResult is p's Result before it runs: who and what it probes, and
// when it starts.
func (p *Probe) newResult() Result {
	r := Result{
		Name:       p.Name,
		Region:     p.Region.RegionID,
		RegionCode: p.Region.RegionCode,
		Node:       p.Node.Name,
		Class:      p.Class,
		Start:      time.Now(),
	}
	if p.Peer != nil {
		r.Peer = p.Peer.Name
	}
	return r
}

// Run runs the probe once. ctx bounds it; a probe that runs out of time
// fails with an error that says so.
func (p *Probe) Run(ctx context.Context) Result {
	r := p.newResult()
	p.check(ctx, &r)
	r.End = time.Now()
	if r.Status == "" {
		r.Status = StatusOK
	}
	if r.Status == StatusFail && r.Error == "" {
		r.Error = "failed"
		if err := ctx.Err(); err == context.DeadlineExceeded {
			r.Error = "timed out"
		} else if err != nil {
			r.Error = err.Error()
		}
	}
	return r
}

// fail marks r failed with err; a context timeout is named as such.
func fail(ctx context.Context, r *Result, err error) {
	r.Status = StatusFail
	if ctx.Err() == context.DeadlineExceeded {
		r.Error = fmt.Sprintf("timed out after %v: %v", time.Since(r.Start).Round(100*time.Millisecond), err)
		return
	}
	r.Error = err.Error()
}

// Plan lists the probes for m: per node STUN (each family it has), TLS,
// DERP delivery and optionally bandwidth; per ordered pair of distinct
// nodes in a region, mesh delivery. STUN-only nodes get only STUN probes.
func (p *Prober) Plan(m *derpmap.DERPMap) []*Probe {
	var out []*Probe
	for _, id := range m.RegionIDs() {
		if !p.wantRegion(id) {
			continue
		}
		reg := m.Regions[id]
		for _, n := range reg.Nodes {
			out = append(out, p.nodeProbes(reg, n)...)
		}
		for _, from := range reg.Nodes {
			for _, to := range reg.Nodes {
				if from == to || from.STUNOnly || to.STUNOnly {
					continue
				}
				out = append(out, p.newProbe(reg, from, to, ClassMesh, p.checkDelivery(from, to)))
			}
		}
	}
	return out
}

func (p *Prober) nodeProbes(reg *derpmap.DERPRegion, n *derpmap.DERPNode) []*Probe {
	var out []*Probe
	if n.STUNPortOrDefault() > 0 {
		if !n.V4().Disabled {
			out = append(out, p.newProbe(reg, n, nil, ClassSTUN4, p.checkSTUN(n, false)))
		}
		if !n.V6().Disabled {
			out = append(out, p.newProbe(reg, n, nil, ClassSTUN6, p.checkSTUN(n, true)))
		}
	}
	if n.STUNOnly {
		return out
	}
	out = append(out,
		p.newProbe(reg, n, nil, ClassTLS, p.checkTLS(n)),
		p.newProbe(reg, n, nil, ClassDERP, p.checkDelivery(n, n)),
	)
	if p.cfg.BandwidthSize > 0 {
		out = append(out, p.newProbe(reg, n, nil, ClassBandwidth, p.checkBandwidth(n)))
	}
	return out
}

func (p *Prober) newProbe(reg *derpmap.DERPRegion, n, peer *derpmap.DERPNode, c Class, check func(context.Context, *Result)) *Probe {
	peerName := ""
	if peer != nil {
		peerName = peer.Name
	}
	return &Probe{
		Name:   probeName(reg.RegionID, n.Name, peerName, c),
		Region: reg,
		Node:   n,
		Peer:   peer,
		Class:  c,
		check:  check,
	}
}

func (p *Prober) wantRegion(id int) bool {
	if len(p.cfg.Regions) == 0 {
		return true
	}
	for _, r := range p.cfg.Regions {
		if r == id {
			return true
		}
	}
	return false
}
