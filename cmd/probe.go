package cmd

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/relayctl/relayctl/internal/derpmap"
	"github.com/relayctl/relayctl/internal/logging"
	"github.com/relayctl/relayctl/internal/render"
	"github.com/relayctl/relayctl/probe/monitor"
	"github.com/relayctl/relayctl/probe/prober"
	"github.com/relayctl/relayctl/relay/node"
	"github.com/relayctl/relayctl/relay/web"
	"github.com/spf13/cobra"
)

// probeOptions are the settings of `relayctl probe`.
type probeOptions struct {
	DERPMap       string
	Once          bool
	JSON          bool
	Interval      time.Duration
	Listen        string
	Regions       []string
	MeshPSKFile   string
	MeshRegions   []string
	BandwidthSize int
	Timeout       time.Duration
	Parallel      int
	LogFormat     string
	LogLevel      string

	streams IOStreams
}

// plainHTTPEnv is Tailscale's switch for dialing DERP over plain HTTP.
const plainHTTPEnv = "TS_DEBUG_USE_DERP_HTTP"

func newProbeCmd(streams IOStreams, runF func(*probeOptions) error) *cobra.Command {
	o := &probeOptions{streams: streams}
	c := &cobra.Command{
		Use:   "probe --derp-map SRC",
		Short: "Probe every relay of a DERP map: STUN, TLS, DERP delivery, mesh",
		Long: `Probe every node of a DERP map: STUN round trip (IPv4 and IPv6), TLS handshake and
certificate (chain or CertName pin, days to expiry), DERP connect and packet delivery
between two clients on each node and across every ordered pair of nodes in a region
(mesh forwarding), with round-trip latency.

With --once, print one table per region (or --json) and exit 0 when every probe
passes, 1 otherwise. Without it, probe every --interval and serve a status page on
--listen: / (HTML), /metrics (Prometheus) and /healthz.

With TS_DEBUG_USE_DERP_HTTP=1 in the environment, DERP is dialed over plain HTTP
(DERPPort, else 3340) and TLS probes are skipped, as for "relayctl serve --dev".

With --mesh-psk-file, the probe clients present the mesh key (which lets its holder
list and disconnect every client of a node) only to the nodes of --mesh-regions
(default: --regions; one of them is required). The map must then come from a file
or an https:// URL, and a node of those regions that is InsecureForTests, or that
TS_DEBUG_USE_DERP_HTTP would reach in clear beyond this host, stops the probe
before it starts.

The status page listens on loopback (127.0.0.1:8030) unless --listen says otherwise;
it shows the DERP map source without credentials or query.`,
		Example: `  relayctl probe --derp-map derpmap.json --once
  relayctl probe --derp-map https://controlplane.example.com/derpmap/default --listen :8030
  relayctl probe --derp-map derpmap.json --mesh-psk-file mesh.key --mesh-regions 900 --once
  TS_DEBUG_USE_DERP_HTTP=1 relayctl probe --derp-map dev.json --once --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			if runF != nil {
				return runF(o)
			}
			return runProbe(cmd.Context(), o)
		},
	}
	f := c.Flags()
	f.StringVar(&o.DERPMap, "derp-map", "", "DERP map (JSON, inventory, Tailscale policy file or headscale YAML): a file path, file:// URL or http(s):// URL (required)")
	f.BoolVar(&o.Once, "once", false, "probe once, print the results and exit (0 when all pass)")
	f.BoolVar(&o.JSON, "json", false, "with --once: print one JSON document on stdout")
	f.DurationVar(&o.Interval, "interval", monitor.DefaultInterval, "time between probe rounds (continuous mode)")
	f.StringVar(&o.Listen, "listen", "127.0.0.1:8030", "status page, /metrics and /healthz listen address (continuous mode); loopback by default, :8030 for every interface")
	f.StringSliceVar(&o.Regions, "regions", nil, "probe only these regions, by ID or RegionCode (comma-separated)")
	f.StringVar(&o.MeshPSKFile, "mesh-psk-file", "", "mesh key file: probe clients become mesh-privileged on the nodes of --mesh-regions (needed where nodes admit only known clients)")
	f.StringSliceVar(&o.MeshRegions, "mesh-regions", nil, "regions (ID or RegionCode) whose nodes share the --mesh-psk-file key; no other node ever sees it (default: --regions)")
	f.IntVar(&o.BandwidthSize, "bandwidth-size", 0, "also measure bandwidth on each node by moving this many bytes; 0 disables")
	f.DurationVar(&o.Timeout, "timeout", prober.DefaultTimeout, "time limit for each probe (capped at 80% of --interval)")
	f.IntVar(&o.Parallel, "parallel", prober.DefaultParallel, "probes run at once")
	f.StringVar(&o.LogFormat, "log-format", "text", "log format: text or json")
	f.StringVar(&o.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
	return c
}

func (o *probeOptions) validate() error {
	switch {
	case o.DERPMap == "":
		return usageErrorf("--derp-map is required")
	case o.JSON && !o.Once:
		return usageErrorf("--json needs --once (continuous mode serves /metrics instead)")
	case o.Interval <= 0:
		return usageErrorf("--interval %v: want a positive duration", o.Interval)
	case o.Timeout <= 0:
		return usageErrorf("--timeout %v: want a positive duration", o.Timeout)
	case o.Parallel < 1:
		return usageErrorf("--parallel %d: want at least 1", o.Parallel)
	case o.BandwidthSize < 0:
		return usageErrorf("--bandwidth-size %d: want 0 (off) or a byte count", o.BandwidthSize)
	case len(o.MeshRegions) > 0 && o.MeshPSKFile == "":
		return usageErrorf("--mesh-regions needs --mesh-psk-file")
	case o.MeshPSKFile != "" && len(o.MeshRegions) == 0 && len(o.Regions) == 0:
		return usageErrorf("--mesh-psk-file needs --mesh-regions: the regions whose nodes share this key (a mesh key lets its holder list and disconnect every client, so no other node may see it)")
	case o.MeshPSKFile != "" && !strings.HasPrefix(o.DERPMap, "https://") && strings.Contains(o.DERPMap, "://") && !strings.HasPrefix(o.DERPMap, "file://"):
		return usageErrorf("--derp-map %s: with --mesh-psk-file the map must be a file or an https:// URL (a map fetched in clear could send the key anywhere)", logging.RedactURL(o.DERPMap))
	}
	return nil
}

// plainHTTPFromEnv reads TS_DEBUG_USE_DERP_HTTP as Tailscale does: any
// true boolean spelling turns it on.
func plainHTTPFromEnv() (bool, error) {
	v, ok := os.LookupEnv(plainHTTPEnv)
	if !ok || v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, usageErrorf("%s=%q: want a boolean", plainHTTPEnv, v)
	}
	return b, nil
}

// loadDERPMapFlag loads --derp-map; any failure is bad configuration.
// httpsOnly (a mesh key is in use) refuses redirects that leave https.
func loadDERPMapFlag(ctx context.Context, src string, httpsOnly bool) (*derpmap.DERPMap, error) {
	m, err := derpmap.Load(ctx, src, mapLoadOptions(httpsOnly))
	if err != nil {
		return nil, usageErrorf("--derp-map: %v", err)
	}
	return m, nil
}

// mapLoadOptions fetch --derp-map within derpmap.DefaultMapLoadTimeout;
// httpsOnly (a mesh key is in use) refuses http and redirects off https.
func mapLoadOptions(httpsOnly bool) derpmap.LoadOptions {
	opts := derpmap.DefaultLoadOptions()
	opts.HTTPSOnly = httpsOnly
	return opts
}

// resolveRegions turns --regions entries (IDs or codes) into region IDs.
func resolveRegions(m *derpmap.DERPMap, names []string) ([]int, error) {
	var ids []int
	for _, name := range names {
		id, ok := m.LookupRegion(name)
		if !ok {
			return nil, usageErrorf("--regions: no region %q in the DERP map", strings.TrimSpace(name))
		}
		ids = append(ids, id)
	}
	return ids, nil
}

func (o *probeOptions) proberConfig(m *derpmap.DERPMap) (prober.Config, error) {
	plain, err := plainHTTPFromEnv()
	if err != nil {
		return prober.Config{}, err
	}
	regions, err := resolveRegions(m, o.Regions)
	if err != nil {
		return prober.Config{}, err
	}
	meshKey, err := node.ReadMeshKey(o.MeshPSKFile)
	if err != nil {
		return prober.Config{}, err
	}
	cfg := prober.DefaultConfig()
	cfg.Regions, cfg.MeshKey, cfg.PlainHTTP, cfg.BandwidthSize = regions, meshKey, plain, o.BandwidthSize
	if !meshKey.IsZero() {
		cfg.MeshRegions = regions
		if len(o.MeshRegions) > 0 {
			if cfg.MeshRegions, err = resolveRegions(m, o.MeshRegions); err != nil {
				return prober.Config{}, usageErrorf("--mesh-regions: %v", strings.TrimPrefix(err.Error(), "--regions: "))
			}
		}
		if err := cfg.CheckMeshKey(m); err != nil {
			return prober.Config{}, usageErrorf("--mesh-psk-file: %v", err)
		}
	}
	return cfg, nil
}

// errProbesFailed is a completed --once run with failures: exit code 1.
type errProbesFailed struct{ failed, total int }

func (e *errProbesFailed) Error() string {
	return fmt.Sprintf("%d of %d probes failed", e.failed, e.total)
}

func runProbe(ctx context.Context, o *probeOptions) error {
	logger, _, err := logging.New(o.streams.ErrOut, o.LogFormat, o.LogLevel)
	if err != nil {
		return &UsageError{err}
	}
	m, err := loadDERPMapFlag(ctx, o.DERPMap, o.MeshPSKFile != "")
	if err != nil {
		return err
	}
	cfg, err := o.proberConfig(m)
	if err != nil {
		return err
	}
	cfg.Logger = logger
	p := prober.New(cfg)
	if o.Once {
		return probeOnce(ctx, o, m, p)
	}
	return probeContinuously(ctx, o, p, logger)
}

func probeOnce(ctx context.Context, o *probeOptions, m *derpmap.DERPMap, p *prober.Prober) error {
	probes := p.Plan(m)
	progress := render.StartProgress(o.streams.ErrOut, render.IsTerminal(o.streams.ErrOut), fmt.Sprintf("probing 0/%d", len(probes)))
	results := prober.RunAll(ctx, probes, prober.RunOptions{
		Parallel: o.Parallel,
		Timeout:  o.Timeout,
		OnResult: func(done, total int, r prober.Result) {
			progress.Set("probing %d/%d: %s %s", done, total, r.Name, r.Status)
		},
	})
	progress.Stop()
	report := prober.NewReport(logging.RedactURL(o.DERPMap), time.Now().UTC(), withHints(results))
	if o.JSON {
		enc := json.NewEncoder(o.streams.Out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(report); err != nil {
			return err
		}
	} else {
		writeProbeTables(o.streams.Out, render.ModeFor(o.streams.Out), m, report)
	}
	if !report.OK {
		return &errProbesFailed{failed: report.Summary.Fail, total: report.Summary.Total}
	}
	return nil
}

// writeProbeTables prints one table per region and a summary line.
func writeProbeTables(w io.Writer, mode render.Mode, m *derpmap.DERPMap, report prober.Report) {
	byRegion := map[int][]prober.Result{}
	for _, r := range report.Results {
		byRegion[r.Region] = append(byRegion[r.Region], r)
	}
	for _, id := range m.RegionIDs() {
		rs := byRegion[id]
		if len(rs) == 0 {
			continue
		}
		reg := m.Regions[id]
		title := fmt.Sprintf("Region %d", id)
		if reg.RegionCode != "" {
			title += " (" + reg.RegionCode + ")"
		}
		if reg.RegionName != "" {
			title += " " + reg.RegionName
		}
		t := render.Table{Title: title, Headers: []string{"Node", "Check", "Status", "Latency", "Detail"}}
		for _, r := range rs {
			t.Rows = append(t.Rows, probeRow(r))
		}
		fmt.Fprint(w, mode.Render(t))
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, report.Summary.String())
}

func probeRow(r prober.Result) []render.Cell {
	node := r.Node
	if r.Peer != "" {
		node = r.Node + " → " + r.Peer
	}
	status := render.Cell{Text: string(r.Status)}
	switch r.Status {
	case prober.StatusOK:
		status.Tone = render.Good
	case prober.StatusWarn:
		status = render.Cell{Text: "WARN", Tone: render.Warn}
	case prober.StatusFail:
		status = render.Cell{Text: "FAIL", Tone: render.Bad}
	case prober.StatusSkip:
		status.Tone = render.Faint
	}
	latency := ""
	if r.Latency > 0 && r.Status != prober.StatusFail {
		latency = formatLatency(r.Latency)
	}
	detail := render.Cell{Text: r.Detail, Tone: render.Faint}
	if r.Error != "" {
		detail = render.Cell{Text: r.Error, Tone: render.Bad}
	}
	return []render.Cell{{Text: node}, {Text: string(r.Class)}, status, {Text: latency}, detail}
}

// formatLatency rounds to 0.1 ms, as tailscale netcheck does.
func formatLatency(d time.Duration) string {
	return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
}

func probeContinuously(ctx context.Context, o *probeOptions, p *prober.Prober, logger *slog.Logger) error {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	mopts := monitor.DefaultOptions()
	mopts.Source = logging.RedactURL(o.DERPMap)
	mopts.LoadMap = func(ctx context.Context) (*derpmap.DERPMap, error) {
		return derpmap.Load(ctx, o.DERPMap, mapLoadOptions(o.MeshPSKFile != ""))
	}
	mopts.Prober, mopts.Interval, mopts.Logger = p, o.Interval, logger
	mopts.Run.Parallel, mopts.Run.Timeout = o.Parallel, o.Timeout
	mon, err := monitor.New(mopts)
	if err != nil {
		return usageErrorf("--interval: %v", err)
	}
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	srv := web.NewServer(mon.Handler(), web.ServerOptions{Logger: logger})
	errc := make(chan error, 1)
	go func() { errc <- web.Serve(srv, ln, "status") }()
	logger.Info("probing", "derp_map", logging.RedactURL(o.DERPMap), "interval", o.Interval, "listen", ln.Addr().String())

	monDone := make(chan struct{})
	go func() {
		defer close(monDone)
		mon.Run(ctx)
	}()
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	stop()
	shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(shutCtx)
	<-monDone
	return runErr
}
