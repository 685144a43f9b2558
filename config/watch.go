package config

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// DefaultDebounce gathers a burst of changes (an editor's save, a config
// management run touching many files) into one recomputation.
const DefaultDebounce = 300 * time.Millisecond

// Change is what a recomputation found.
type Change struct {
	Old, New *Result
	// Applied are live settings whose value changed.
	Applied []Entry
	// Pending are restart-only settings whose value changed; they take
	// effect at the next start.
	Pending []Entry
}

// Watcher recomputes the resultant set when a source changes: the config
// file or a policy directory changes on disk, SIGHUP arrives (Reload), or
// a policy URL's content changes. A set that fails to resolve is logged
// and the last good one stays in force.
type Watcher struct {
	spec     Spec
	sources  Sources
	logger   *slog.Logger
	debounce time.Duration
	poll     time.Duration
	onChange func(Change)
	onError  func(error)

	// watching is closed once Run watches every source directory.
	watching chan struct{}

	mu      sync.Mutex
	initial *Result // the set the process started with
	current *Result
	pending map[string]Entry // restart-only changes not yet in force
	// recomputations counts successful resolutions after the first.
	recomputations int
	kick           chan struct{}

	// paths are the sources as absolute paths; seen is their last
	// fingerprint (Run's goroutine only).
	paths watchPaths
	seen  string
}

// WatchOptions configure NewWatcher.
type WatchOptions struct {
	Debounce time.Duration // 0 = DefaultDebounce
	// PollInterval is how often policy URLs are fetched (0 = 1 minute).
	PollInterval time.Duration
	Logger       *slog.Logger
	// OnChange is called after each successful recomputation that changed
	// something; OnError after each rejected one.
	OnChange func(Change)
	OnError  func(error)
	// HTTPClient fetches policy URLs when Sources.Fetch is nil (nil: a
	// client with a 30 s timeout); see PolicyFetcher.
	HTTPClient *http.Client
}

// NewWatcher resolves the first set and returns a watcher for it.
func NewWatcher(spec Spec, src Sources, opts WatchOptions) (*Watcher, *Result, error) {
	w := &Watcher{
		spec: spec, sources: src, logger: opts.Logger, debounce: opts.Debounce, poll: opts.PollInterval,
		onChange: opts.OnChange, onError: opts.OnError, pending: map[string]Entry{},
		kick: make(chan struct{}, 1), watching: make(chan struct{}),
	}
	if w.logger == nil {
		w.logger = slog.New(slog.DiscardHandler)
	}
	if w.debounce <= 0 {
		w.debounce = DefaultDebounce
	}
	if w.poll <= 0 {
		w.poll = time.Minute
	}
	if w.sources.Fetch == nil {
		w.sources.Fetch = NewPolicyFetcher(FetchOptions{HTTPClient: opts.HTTPClient, Logger: w.logger}).Fetch
	}
	res, err := Resolve(spec, w.sources)
	if err != nil {
		return nil, nil, err
	}
	w.current, w.initial = res, res
	return w, res, nil
}

// Pending lists restart-only settings changed since start.
func (w *Watcher) Pending() []Entry {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]Entry, 0, len(w.pending))
	for _, e := range w.pending {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b Entry) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Watching is closed once Run has started watching the sources: changes
// after that are seen.
func (w *Watcher) Watching() <-chan struct{} { return w.watching }

// Reload asks for a recomputation (SIGHUP), debounced like file changes.
func (w *Watcher) Reload() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// Run watches until ctx ends.
func (w *Watcher) Run(ctx context.Context) error {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("config watcher: %w", err)
	}
	defer fw.Close()
	// Watch directories, not files: editors and config management
	// replace files by renaming, which a file watch would lose.
	w.paths = watchedPaths(w.sources, overlayPaths(w.spec, w.initial))
	for _, d := range w.paths.dirs() {
		if err := fw.Add(d); err != nil {
			// A directory that does not exist (the default config
			// directory of a relay run from flags alone) is normal.
			level := slog.LevelWarn
			if errors.Is(err, fs.ErrNotExist) {
				level = slog.LevelDebug
			}
			w.logger.Log(ctx, level, "cannot watch for config changes; SIGHUP still reloads", "dir", d, "err", err)
		}
	}
	w.seen = w.paths.fingerprint()
	close(w.watching)
	var pollC <-chan time.Time
	if len(w.paths.urls) > 0 {
		t := time.NewTicker(w.poll)
		defer t.Stop()
		pollC = t.C
	}
	// Debounce: recompute once the sources have been quiet for the
	// debounce time, but no later than maxDelay after the first change, so
	// a steady trickle of writes still gets applied.
	var debounceC <-chan time.Time
	var timer *time.Timer
	var first time.Time
	maxDelay := 10 * w.debounce
	arm := func() {
		now := time.Now()
		switch {
		case timer == nil:
			first = now
			timer = time.NewTimer(w.debounce)
			debounceC = timer.C
		case now.Sub(first) < maxDelay:
			timer.Reset(min(w.debounce, maxDelay-now.Sub(first)))
		}
	}
	for {
		select {
		case <-ctx.Done():
			if timer != nil {
				timer.Stop()
			}
			return nil
		case ev, ok := <-fw.Events:
			if !ok {
				return nil
			}
			if w.relevant(ev.Name) {
				arm()
			}
		case err := <-fw.Errors:
			w.logger.Warn("config watcher error", "err", err)
		case <-w.kick:
			arm()
		case <-pollC:
			arm()
		case <-debounceC:
			timer, debounceC = nil, nil
			w.recompute()
		}
	}
}

// relevant filters directory events to the files we read: an event
// naming one of them, or any event in a watched directory after which one
// of them resolves to a different file or content (a Kubernetes
// ConfigMap flips its ..data link and no event names the file itself).
func (w *Watcher) relevant(name string) bool {
	if w.paths.names(name) {
		return true
	}
	fp := w.paths.fingerprint()
	if fp == w.seen {
		return false
	}
	w.seen = fp
	return true
}

// recompute resolves the sources again and reports what changed.
func (w *Watcher) recompute() {
	res, err := Resolve(w.spec, w.sources)
	if err != nil {
		w.logger.Error("new configuration rejected; the last good one stays in force", "err", err)
		if w.onError != nil {
			w.onError(err)
		}
		return
	}
	w.mu.Lock()
	old := w.current
	ch := Change{Old: old, New: res}
	for _, e := range res.Entries {
		prev, _ := old.Lookup(e.Name)
		if prev.Value == e.Value {
			continue // unchanged, or the same value from elsewhere
		}
		if e.Live {
			ch.Applied = append(ch.Applied, e)
		} else {
			e.PendingRestart = true
			w.pending[e.Name] = e
			ch.Pending = append(ch.Pending, e)
		}
	}
	// A restart-only setting changed back to its running value is no
	// longer pending.
	for name := range w.pending {
		if e, _ := res.Lookup(name); e.Value == w.startValue(name) {
			delete(w.pending, name)
		}
	}
	for i := range res.Entries {
		_, res.Entries[i].PendingRestart = w.pending[res.Entries[i].Name]
	}
	w.current = res
	w.recomputations++
	w.mu.Unlock()
	for _, e := range ch.Pending {
		w.logger.Warn("setting changed; it takes effect at the next restart", "setting", e.Name, "value", e.Shown().Value, "source", e.Source)
	}
	for _, e := range ch.Applied {
		w.logger.Info("setting applied", "setting", e.Name, "value", e.Shown().Value, "source", e.Source)
	}
	if w.onChange != nil {
		w.onChange(ch)
	}
}

// startValue is the value a restart-only setting had when the relay
// started: what is really in force for it.
func (w *Watcher) startValue(name string) string {
	if e, ok := w.first().Lookup(name); ok {
		return e.Value
	}
	return ""
}

func (w *Watcher) first() *Result { return w.initial }

// Initial is the set the process started with.
func (w *Watcher) Initial() *Result { return w.initial }
