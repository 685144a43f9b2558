package cmd

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/relayctl/relayctl/config"
	"github.com/relayctl/relayctl/internal/atomicfile"
	"github.com/relayctl/relayctl/internal/logging"
	"github.com/relayctl/relayctl/internal/metrics"
	"github.com/relayctl/relayctl/relay/server"
)

// liveConfig keeps a running relay in step with its setting sources:
// changes are applied live where a setting allows it and reported as
// pending a restart otherwise.
type liveConfig struct {
	watcher    *config.Watcher
	statusPath string
	logger     *slog.Logger

	bySource *metrics.GaugeVec
	pending  *metrics.Gauge
	reloads  *metrics.CounterVec
}

// runningStatus is what serve writes for `relayctl config show`: the
// values the process started with and what is pending.
type runningStatus struct {
	PID     int               `json:"pid"`
	Started time.Time         `json:"started"`
	Values  map[string]string `json:"values"`
	Pending []string          `json:"pending_restart"`
}

// statusFileFor is where serve keeps its running status: beside its key.
func statusFileFor(keyPath string) string {
	return filepath.Join(filepath.Dir(keyPath), "running-config.json")
}

// startLiveConfig watches the sources behind o until ctx ends. apply is
// given each live change.
func startLiveConfig(ctx context.Context, o *serveOptions, keyPath string, logger *slog.Logger, reg *metrics.Registry, relay *server.Server, level *slog.LevelVar) (*liveConfig, error) {
	lc := &liveConfig{
		statusPath: statusFileFor(keyPath),
		logger:     logger,
		bySource:   reg.GaugeVec("relayctl_config_settings", "settings by the source their value comes from", "source"),
		pending:    reg.Gauge("relayctl_config_pending_restart", "settings changed since start that take effect only after a restart"),
		reloads:    reg.CounterVec("relayctl_config_reloads", "recomputations of the configuration, by result", "result"),
	}
	w, first, err := config.NewWatcher(serveSpec(), o.sources, config.WatchOptions{
		Logger: logger,
		OnChange: func(ch config.Change) {
			lc.reloads.With("ok").Inc()
			for _, e := range ch.Applied {
				switch e.Name {
				case "log-level":
					if err := level.UnmarshalText([]byte(e.Value)); err != nil {
						logger.Error("log-level not applied", "value", e.Value, "err", err)
					}
				case "verify-client-url", "verify-client-url-fail-open":
					url, _ := ch.New.Flags.GetString("verify-client-url")
					failOpen, _ := ch.New.Flags.GetBool("verify-client-url-fail-open")
					o.Admission.setWebhook(url, failOpen)
				case "per-client-rate-limit", "per-client-rate-burst":
					rateLimit, _ := ch.New.Flags.GetInt64("per-client-rate-limit")
					burst, _ := ch.New.Flags.GetInt("per-client-rate-burst")
					relay.SetPerClientRateLimit(rateLimit, burst)
				}
			}
			if !sameAccess(ch.Old.Policy, ch.New.Policy) {
				applyAccessPolicy(logger, relay, ch.New.Policy)
			}
			lc.publish(ch.New)
		},
		OnError: func(error) { lc.reloads.With("rejected").Inc() },
	})
	if err != nil {
		return nil, err
	}
	lc.watcher = w
	applyAccessPolicy(logger, relay, first.Policy)
	lc.reloads.With("ok")
	lc.reloads.With("rejected")
	lc.publish(first)

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				logger.Info("SIGHUP: re-reading configuration")
				w.Reload()
			}
		}
	}()
	go func() {
		if err := w.Run(ctx); err != nil {
			logger.Warn("configuration is not watched for changes; restart to apply them", "err", err)
		}
	}()
	return lc, nil
}

// publish updates metrics and the status file for res.
func (lc *liveConfig) publish(res *config.Result) {
	counts := map[config.Source]int64{}
	for _, s := range []config.Source{config.SourceDefault, config.SourceFile, config.SourceEnv, config.SourceFlag, config.SourcePolicy} {
		counts[s] = 0
	}
	for _, e := range res.Entries {
		counts[e.Source]++
	}
	for s, n := range counts {
		lc.bySource.With(string(s)).Set(n)
	}
	pending := lc.watcher.Pending()
	lc.pending.Set(int64(len(pending)))
	lc.writeStatus(pending)
}

func (lc *liveConfig) writeStatus(pending []config.Entry) {
	st := runningStatus{PID: os.Getpid(), Started: processStart, Values: map[string]string{}}
	for _, e := range lc.watcher.Initial().Entries {
		st.Values[e.Name] = storedValue(e)
	}
	for _, e := range pending {
		st.Pending = append(st.Pending, e.Name)
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return
	}
	if err := atomicfile.Write(lc.statusPath, b, 0o600); err != nil {
		lc.logger.Warn("cannot write the running status file (is the directory read-only or full?): relayctl config show will not see this relay's live settings; the relay serves on",
			"file", lc.statusPath, "err", err)
	}
}

// remove deletes the status file when the relay stops.
func (lc *liveConfig) remove() { os.Remove(lc.statusPath) }

var processStart = time.Now()

// readRunningStatus returns the status of a live relay using keyPath's
// directory, if there is one.
func readRunningStatus(keyPath string) (*runningStatus, bool) {
	b, err := os.ReadFile(statusFileFor(keyPath))
	if err != nil {
		return nil, false
	}
	var st runningStatus
	if json.Unmarshal(b, &st) != nil || st.PID <= 0 {
		return nil, false
	}
	if p, err := os.FindProcess(st.PID); err != nil || p.Signal(syscall.Signal(0)) != nil {
		return nil, false // the relay that wrote it is gone
	}
	return &st, true
}

// applyAccessPolicy puts the fleet policy's tags and ACLs in force; a
// policy that does not compile is logged and the previous one stays.
func applyAccessPolicy(logger *slog.Logger, relay *server.Server, p *config.Policy) {
	ap, err := accessPolicyFrom(p)
	if err == nil {
		var closed int
		closed, err = relay.SetAccessPolicy(ap)
		if err == nil {
			if ap != nil {
				logger.Info("access policy in force", "tags", len(ap.Tags), "rules", len(ap.Rules), "disconnected", closed)
			}
			return
		}
	}
	logger.Error("access policy rejected; the previous one stays in force", "err", err)
}

// storedValue is a setting as the status file keeps it: any URL without
// credentials or query (a webhook's token, say). config show compares
// the same form.
func storedValue(e config.Entry) string { return logging.RedactURL(e.Value) }
