package monitor

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/relayctl/relayctl/internal/derpmap"
	"github.com/relayctl/relayctl/probe/internal/probetest"
	"github.com/relayctl/relayctl/probe/prober"
)

func TestMonitorStatusMetricsHealthz(t *testing.T) {
	t.Parallel()
	good := probetest.StartNode(t, probetest.NodeOpts{TLS: true})
	expiring := probetest.StartNode(t, probetest.NodeOpts{TLS: true, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(3 * 24 * time.Hour)})
	bad := good.DERPNode("900b", 900)
	bad.DERPPort = probetest.DeadTCPPort(t)
	bad.STUNPort = -1
	m := &derpmap.DERPMap{Regions: map[int]*derpmap.DERPRegion{
		900: {RegionID: 900, RegionCode: "home", RegionName: "Home Lab", Nodes: []*derpmap.DERPNode{good.DERPNode("900a", 900)}},
		901: {RegionID: 901, RegionCode: "away", Nodes: []*derpmap.DERPNode{bad}},
		902: {RegionID: 902, RegionCode: "soon", Nodes: []*derpmap.DERPNode{expiring.DERPNode("902a", 902)}},
	}}
	m.Regions[901].Nodes[0].RegionID = 901
	loads := 0
	mon := New(Options{
		Source: "test-map.json",
		LoadMap: func(context.Context) (*derpmap.DERPMap, error) {
			loads++
			if loads == 2 {
				return nil, errors.New("control plane unreachable")
			}
			return m, nil
		},
		Prober:   prober.New(prober.Config{}),
		Interval: 10 * time.Second,
		Run:      prober.RunOptions{Timeout: 2 * time.Second},
	})
	srv := httptest.NewServer(mon.Handler())
	t.Cleanup(srv.Close)

	mon.RunRound(t.Context())
	mon.RunRound(t.Context()) // map load fails: the previous map is probed again

	page := get(t, srv.URL+"/", http.StatusOK)
	for _, want := range []string{
		"Region 900 (home) — Home Lab", "Region 901 (away)",
		`id="900/900a/derp"`, `class="fail">fail`, "connection refused",
		"DERP map load failed", "control plane unreachable",
		"Recent failures", "901/900b/derp", "2 rounds",
		`class="warn">warn`, "(2d)",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("status page lacks %q", want)
		}
	}
	if strings.Count(page, `<span class="dot ok"`) < 2 {
		t.Errorf("status page shows no history dots")
	}

	metrics := get(t, srv.URL+"/metrics", http.StatusOK)
	for _, want := range []string{
		`relayctl_probe_success{region="900",node="900a",peer="",class="derp"} 1`,
		`relayctl_probe_success{region="901",node="900b",peer="",class="derp"} 0`,
		`relayctl_probe_runs_total{region="901",node="900b",peer="",class="tls",result="fail"} 2`,
		`relayctl_probe_runs_total{region="902",node="902a",peer="",class="tls",result="warn"} 2`,
		`relayctl_probe_latency_seconds_count{region="900",node="900a",peer="",class="stun4"} 2`,
		`relayctl_probe_latency_seconds_bucket{region="900",node="900a",peer="",class="derp",le="+Inf"} 2`,
		"# TYPE relayctl_probe_latency_seconds histogram",
		`relayctl_probe_cert_expiry_seconds{region="902",node="902a"} 2`,
		"relayctl_probe_map_load_errors_total 1",
		"relayctl_probe_rounds_total 2",
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if strings.Contains(metrics, `node="900b",peer="",class="stun4"`) {
		t.Errorf("a node without STUN has STUN series")
	}

	if body := get(t, srv.URL+"/healthz", http.StatusOK); body != "ok\n" {
		t.Errorf("/healthz = %q", body)
	}
	if mon.Healthy(time.Now().Add(time.Hour)) {
		t.Errorf("Healthy an hour after the last round")
	}
}

func get(t *testing.T, url string, wantStatus int) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != wantStatus {
		t.Fatalf("GET %s: %s, want %d", url, resp.Status, wantStatus)
	}
	return string(b)
}
