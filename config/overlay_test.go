package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// overlaySpec is testSpec with a "rate-file" overlay: a file of
// "per-client-rate-limit N" lines.
func overlaySpec() Spec {
	spec := testSpec()
	base := spec.NewFlags
	spec.NewFlags = func() *pflag.FlagSet {
		fs := base()
		fs.String("rate-file", "", "overlay file")
		return fs
	}
	spec.Overlays = []Overlay{{PathSetting: "rate-file", Source: "rate-file", Read: func(path string) (map[string]string, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		name, value, ok := strings.Cut(strings.TrimSpace(string(b)), " ")
		if !ok {
			return nil, errors.New("want NAME VALUE")
		}
		return map[string]string{name: value}, nil
	}}}
	return spec
}

// An overlay's values beat the command line, lose to policy, and name
// their file.
func TestOverlayPrecedence(t *testing.T) {
	dir := t.TempDir()
	rate := filepath.Join(dir, "rate")
	write(t, rate, "per-client-rate-limit 42")
	src := Sources{Flags: map[string][]string{"rate-file": {rate}, "per-client-rate-limit": {"7"}}}
	res, err := Resolve(overlaySpec(), src)
	if err != nil {
		t.Fatal(err)
	}
	if e := entry(t, res, "per-client-rate-limit"); e.Value != "42" || e.Source != "rate-file" || e.Origin != rate {
		t.Errorf("per-client-rate-limit %+v, want 42 from rate-file %s", e, rate)
	}

	write(t, filepath.Join(dir, "policy", "p.yaml"), "settings:\n  per-client-rate-limit: 5000\n")
	src.Policies = []string{filepath.Join(dir, "policy")}
	res, err = Resolve(overlaySpec(), src)
	if err != nil {
		t.Fatal(err)
	}
	if e := entry(t, res, "per-client-rate-limit"); e.Value != "5000" || e.Source != SourcePolicy || e.Overridden != "42" {
		t.Errorf("per-client-rate-limit %+v, want 5000 from policy over the overlay's 42", e)
	}
}

func TestOverlayErrorsNameTheFile(t *testing.T) {
	dir := t.TempDir()
	tests := []struct{ body, want string }{
		{"", "rate-file " + filepath.Join(dir, "rate") + ": want NAME VALUE"},
		{"stun-prot 1", `sets unknown setting "stun-prot"`},
		{"stun-port many", "rate-file " + filepath.Join(dir, "rate") + ": stun-port: many: want a whole number"},
	}
	for _, tt := range tests {
		write(t, filepath.Join(dir, "rate"), tt.body)
		_, err := Resolve(overlaySpec(), Sources{Flags: map[string][]string{"rate-file": {filepath.Join(dir, "rate")}}})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("body %q: error %v, want %q", tt.body, err, tt.want)
		}
	}
	_, err := Resolve(overlaySpec(), Sources{Flags: map[string][]string{"rate-file": {filepath.Join(dir, "missing")}}})
	if err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing file: error %v", err)
	}
}

// The watcher re-reads an overlay file when it changes.
func TestWatcherFollowsOverlay(t *testing.T) {
	dir := t.TempDir()
	rate := filepath.Join(dir, "rates", "rate")
	write(t, rate, "per-client-rate-limit 1")
	w, _, err := NewWatcher(overlaySpec(), Sources{Flags: map[string][]string{"rate-file": {rate}}}, WatchOptions{Debounce: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	go w.Run(t.Context())
	<-w.Watching()
	write(t, rate, "per-client-rate-limit 2")
	waitCond(t, "the overlay's new value", func() bool { return entry(t, w.Current(), "per-client-rate-limit").Value == "2" })
}
