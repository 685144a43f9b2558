package acmecert

import (
	"context"
	"log/slog"
	"path/filepath"

	"golang.org/x/crypto/acme/autocert"

	"github.com/relayctl/relayctl/internal/metrics"
)

// A certificate the CA has issued is worth keeping even when the cache
// directory refuses it (read-only, full): the relay serves it from memory
// and says which file it could not write. Failing instead would throw the
// certificate away and ask the CA again at every retry — against Let's
// Encrypt's rate limits — while the old certificate runs out. Only a
// restart loses what was kept in memory.

// storeFailures counts and logs writes to the cache directory that failed.
type storeFailures struct {
	logger *slog.Logger
	errs   *metrics.Counter
}

func newStoreFailures(logger *slog.Logger, reg *metrics.Registry) storeFailures {
	if reg == nil {
		reg = metrics.NewRegistry()
	}
	return storeFailures{
		logger: logger,
		errs:   reg.CounterVec("relayctl_state_write_errors", "files the relay could not write to its state or certificate directory (read-only or full), by what they hold", "what").With("acme"),
	}
}

// failed reports that path (a file, or the directory when err names the
// file) could not be written; what it held is served from memory.
func (s storeFailures) failed(path string, err error) {
	s.errs.Inc()
	s.logger.Error("cannot store ACME state (is the directory read-only or full?): using it from memory, a restart will ask the CA again",
		"path", path, "err", err)
}

// keepingCache is autocert's directory cache that reports a failed write
// and lets autocert go on with what it has in memory: autocert gives up a
// renewal (and the very first account) when the cache refuses a write.
type keepingCache struct {
	autocert.DirCache
	failures storeFailures
}

func (c keepingCache) Put(ctx context.Context, name string, data []byte) error {
	err := c.DirCache.Put(ctx, name, data)
	if err == nil || ctx.Err() != nil {
		return err
	}
	c.failures.failed(filepath.Join(string(c.DirCache), name), err)
	return nil
}
