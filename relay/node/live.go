package node

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/relayctl/relayctl/config"
	"github.com/relayctl/relayctl/internal/metrics"
)

// liveConfig keeps a running node in step with its setting sources:
// changes are applied live where a setting's declaration says how, and
// reported as pending a restart otherwise.
type liveConfig struct {
	watcher    *config.Watcher
	statusPath string
	started    time.Time
	logger     *slog.Logger

	bySource *metrics.GaugeVec
	pending  *metrics.Gauge
	reloads  *metrics.CounterVec
}

// startLiveConfig watches src until ctx ends, applying each change to n.
func (n *Node) startLiveConfig(ctx context.Context, src config.Sources, keyPath string) (*liveConfig, error) {
	lc := &liveConfig{
		statusPath: statusFileFor(keyPath),
		started:    time.Now(),
		logger:     n.logger,
		bySource:   n.reg.GaugeVec("relayctl_config_settings", "settings by the source their value comes from", "source"),
		pending:    n.reg.Gauge("relayctl_config_pending_restart", "settings changed since start that take effect only after a restart"),
		reloads:    n.reg.CounterVec("relayctl_config_reloads", "recomputations of the configuration, by result", "result"),
	}
	w, first, err := config.NewWatcher(Spec(), src, config.WatchOptions{
		Logger: n.logger,
		OnChange: func(ch config.Change) {
			lc.reloads.With("ok").Inc()
			n.applyLive(ch)
			lc.publish(ch.New)
		},
		OnError: func(error) { lc.reloads.With("rejected").Inc() },
	})
	if err != nil {
		return nil, &ConfigError{err}
	}
	lc.watcher = w
	applyAccessPolicy(n.logger, n.relay, first.Policy)
	lc.reloads.With("ok")
	lc.reloads.With("rejected")
	lc.publish(first)
	go func() {
		if err := w.Run(ctx); err != nil {
			n.logger.Warn("configuration is not watched for changes; restart to apply them", "err", err)
		}
	}()
	return lc, nil
}

// applyLive puts a change's live settings in force, each setting's
// liveChange once, and the fleet policy's access rules when they changed.
func (n *Node) applyLive(ch config.Change) {
	c, err := configFrom(ch.New)
	if err != nil {
		n.logger.Error("configuration change not applied", "err", err)
		return
	}
	done := map[*liveChange]bool{}
	for _, e := range ch.Applied {
		s, ok := lookupSetting(e.Name)
		if !ok || s.live == nil || done[s.live] {
			continue
		}
		done[s.live] = true
		s.live.apply(n, &c)
	}
	if !sameAccess(ch.Old.Policy, ch.New.Policy) {
		applyAccessPolicy(n.logger, n.relay, ch.New.Policy)
	}
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
	if err := writeRunningStatus(lc.statusPath, lc.started, lc.watcher.Initial(), pending); err != nil {
		lc.logger.Warn("cannot write the running status file (is the directory read-only or full?): relayctl config show will not see this relay's live settings; the relay serves on",
			"file", lc.statusPath, "err", err)
	}
}

// remove deletes the status file when the node stops.
func (lc *liveConfig) remove() { os.Remove(lc.statusPath) }
