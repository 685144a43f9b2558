package prober

import (
	"strings"
	"testing"
	"time"

	"github.com/relayctl/relayctl/internal/derpmap"
	"github.com/relayctl/relayctl/probe/internal/probetest"
)

func TestProbeHealthyRelayctlNodes(t *testing.T) {
	tests := []struct {
		name  string
		tls   bool
		class map[Class]Status
	}{
		{"plain_http", false, map[Class]Status{ClassSTUN4: StatusOK, ClassTLS: StatusSkip, ClassDERP: StatusOK, ClassBandwidth: StatusOK}},
		{"tls_pinned", true, map[Class]Status{ClassSTUN4: StatusOK, ClassTLS: StatusOK, ClassDERP: StatusOK, ClassBandwidth: StatusOK}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			n := probetest.StartNode(t, probetest.NodeOpts{TLS: tc.tls})
			m := probetest.OneRegionMap(900, "test", n.DERPNode("900a", 900))
			if err := m.Validate(); err != nil {
				t.Fatal(err)
			}
			p := New(Config{PlainHTTP: !tc.tls, BandwidthSize: 1 << 20})
			rs := RunAll(t.Context(), p.Plan(m), RunOptions{Timeout: 5 * time.Second})
			if len(rs) != len(tc.class) {
				t.Errorf("got %d results, want %d: %+v", len(rs), len(tc.class), rs)
			}
			for _, r := range rs {
				if want := tc.class[r.Class]; r.Status != want {
					t.Errorf("%s: status %s (%s%s), want %s", r.Name, r.Status, r.Error, r.Detail, want)
				}
				if r.Status == StatusOK && r.Latency <= 0 {
					t.Errorf("%s: no latency", r.Name)
				}
			}
			if tc.tls {
				tlsr := resultsByName(rs)["900/900a/tls"]
				if !tlsr.CertExpiry.Equal(n.Cert.NotAfter) || !strings.Contains(tlsr.Detail, "expires") {
					t.Errorf("tls result %+v, want expiry %v", tlsr, n.Cert.NotAfter)
				}
			}
		})
	}
}

func TestProbeNamesEachFailure(t *testing.T) {
	t.Parallel()
	good := probetest.StartNode(t, probetest.NodeOpts{TLS: true})
	mute := probetest.StartNode(t, probetest.NodeOpts{TLS: true, NoSTUN: true})
	now := time.Now()
	expired := probetest.StartNode(t, probetest.NodeOpts{TLS: true, NotBefore: now.Add(-60 * 24 * time.Hour), NotAfter: now.Add(-3 * 24 * time.Hour)})
	soon := probetest.StartNode(t, probetest.NodeOpts{TLS: true, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(5 * 24 * time.Hour)})
	wrongPin := probetest.StartNode(t, probetest.NodeOpts{TLS: true})
	meshA := probetest.StartNode(t, probetest.NodeOpts{TLS: true})
	meshB := probetest.StartNode(t, probetest.NodeOpts{TLS: true})

	stopped := good.DERPNode("901a", 901)
	stopped.DERPPort = probetest.DeadTCPPort(t)
	stopped.STUNPort = probetest.DeadUDPPort(t)
	pinned := wrongPin.DERPNode("905a", 905)
	pinned.CertName = good.Pin

	m := &derpmap.DERPMap{Regions: map[int]*derpmap.DERPRegion{
		900: {RegionID: 900, RegionCode: "good", Nodes: []*derpmap.DERPNode{good.DERPNode("900a", 900)}},
		901: {RegionID: 901, RegionCode: "stopped", Nodes: []*derpmap.DERPNode{stopped}},
		902: {RegionID: 902, RegionCode: "mute", Nodes: []*derpmap.DERPNode{mute.DERPNode("902a", 902)}},
		903: {RegionID: 903, RegionCode: "expired", Nodes: []*derpmap.DERPNode{expired.DERPNode("903a", 903)}},
		904: {RegionID: 904, RegionCode: "soon", Nodes: []*derpmap.DERPNode{soon.DERPNode("904a", 904)}},
		905: {RegionID: 905, RegionCode: "pin", Nodes: []*derpmap.DERPNode{pinned}},
		906: {RegionID: 906, RegionCode: "split", Nodes: []*derpmap.DERPNode{meshA.DERPNode("906a", 906), meshB.DERPNode("906b", 906)}},
	}}
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	rs := RunAll(t.Context(), New(DefaultConfig()).Plan(m), RunOptions{Timeout: 2 * time.Second, Parallel: 16})
	want := map[string]struct {
		status Status
		errHas string
	}{
		"900/900a/stun4":      {StatusOK, ""},
		"900/900a/tls":        {StatusOK, ""},
		"900/900a/derp":       {StatusOK, ""},
		"901/901a/stun4":      {StatusFail, "no reply"},
		"901/901a/tls":        {StatusFail, "connection refused"},
		"901/901a/derp":       {StatusFail, "connect to 901a"},
		"902/902a/stun4":      {StatusFail, "no reply"},
		"902/902a/tls":        {StatusOK, ""},
		"902/902a/derp":       {StatusOK, ""},
		"903/903a/stun4":      {StatusOK, ""},
		"903/903a/tls":        {StatusFail, "certificate expired"},
		"903/903a/derp":       {StatusFail, "certificate expired"},
		"904/904a/stun4":      {StatusOK, ""},
		"904/904a/tls":        {StatusWarn, ""},
		"904/904a/derp":       {StatusOK, ""},
		"905/905a/stun4":      {StatusOK, ""},
		"905/905a/tls":        {StatusFail, "CertName pin mismatch"},
		"905/905a/derp":       {StatusFail, "CertName pin mismatch"},
		"906/906a/stun4":      {StatusOK, ""},
		"906/906a/tls":        {StatusOK, ""},
		"906/906a/derp":       {StatusOK, ""},
		"906/906b/stun4":      {StatusOK, ""},
		"906/906b/tls":        {StatusOK, ""},
		"906/906b/derp":       {StatusOK, ""},
		"906/906a->906b/mesh": {StatusFail, "no packet from 906a arrived at 906b"},
		"906/906b->906a/mesh": {StatusFail, "no packet from 906b arrived at 906a"},
	}
	got := resultsByName(rs)
	if len(got) != len(want) {
		t.Errorf("got %d results, want %d", len(got), len(want))
	}
	for name, w := range want {
		r, ok := got[name]
		if !ok {
			t.Errorf("%s: no result", name)
			continue
		}
		if r.Status != w.status || !strings.Contains(r.Error, w.errHas) {
			t.Errorf("%s: %s %q, want %s with error containing %q", name, r.Status, r.Error, w.status, w.errHas)
		}
	}
	if r := got["904/904a/tls"]; !strings.Contains(r.Detail, "in 4d") && !strings.Contains(r.Detail, "in 5d") {
		t.Errorf("expiring certificate detail %q, want the days left", r.Detail)
	}
	if r := got["903/903a/tls"]; !r.CertExpiry.Equal(expired.Cert.NotAfter) {
		t.Errorf("expired certificate: CertExpiry %v, want %v", r.CertExpiry, expired.Cert.NotAfter)
	}
}

func resultsByName(rs []Result) map[string]Result {
	m := map[string]Result{}
	for _, r := range rs {
		m[r.Name] = r
	}
	return m
}

// TestCertWarnBefore: a certificate 5 days from expiry warns under
// DefaultConfig's 14 days and passes when CertWarnBefore is 0 (off).
func TestCertWarnBefore(t *testing.T) {
	now := time.Now()
	soon := probetest.StartNode(t, probetest.NodeOpts{TLS: true, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(5 * 24 * time.Hour)})
	m := probetest.OneRegionMap(900, "soon", soon.DERPNode("900a", 900))
	tests := []struct {
		name string
		cfg  Config
		want Status
	}{
		{"default_warns", DefaultConfig(), StatusWarn},
		{"zero_is_off", Config{}, StatusOK},
		{"shorter_window", Config{CertWarnBefore: 24 * time.Hour}, StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := resultsByName(RunAll(t.Context(), New(tt.cfg).Plan(m), RunOptions{Timeout: 5 * time.Second}))
			if r := rs["900/900a/tls"]; r.Status != tt.want {
				t.Errorf("tls probe: %s %q %q, want %s", r.Status, r.Detail, r.Error, tt.want)
			}
		})
	}
}
