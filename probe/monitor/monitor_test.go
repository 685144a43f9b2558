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
	opts := DefaultOptions()
	opts.Source = "test-map.json"
	opts.LoadMap = func(context.Context) (*derpmap.DERPMap, error) {
		loads++
		if loads == 2 {
			return nil, errors.New("control plane unreachable")
		}
		return m, nil
	}
	opts.Prober = prober.New(prober.DefaultConfig())
	opts.Interval, opts.Run.Timeout = 10*time.Second, 2*time.Second
	mon, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(mon.Handler())
	t.Cleanup(srv.Close)

	mon.runRound(t.Context())
	mon.runRound(t.Context()) // map load fails: the previous map is probed again

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
	if mon.healthy(time.Now().Add(time.Hour)) {
		t.Errorf("healthy an hour after the last round")
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

// TestNewOptions: the interval must be positive (never a default in its
// place), and a probe's time limit is at most 80% of it, all of that when
// the options leave it 0.
func TestNewOptions(t *testing.T) {
	tests := []struct {
		name        string
		interval    time.Duration
		timeout     time.Duration
		wantErr     bool
		wantTimeout time.Duration
	}{
		{"zero_interval", 0, time.Second, true, 0},
		{"negative_interval", -time.Second, time.Second, true, 0},
		{"zero_timeout_is_the_cap", time.Hour, 0, false, 48 * time.Minute},
		{"timeout_capped", 10 * time.Second, time.Minute, false, 8 * time.Second},
		{"timeout_kept", 10 * time.Second, 2 * time.Second, false, 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := DefaultOptions()
			opts.Prober = prober.New(prober.DefaultConfig())
			opts.Interval, opts.Run.Timeout = tt.interval, tt.timeout
			mon, err := New(opts)
			if tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), "want a positive duration") {
					t.Fatalf("error %v, want one asking for a positive interval", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if mon.opts.Run.Timeout != tt.wantTimeout {
				t.Errorf("probe timeout %v, want %v", mon.opts.Run.Timeout, tt.wantTimeout)
			}
		})
	}
}
