package config

import (
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// TestWatcherSeesChangesForEveryPathSpelling: a change reaches a running
// relay whatever way the operator spelled the path (a bare name, a
// trailing slash) and whatever way the file was replaced (written in
// place, renamed over by an editor, a Kubernetes ConfigMap's ..data link
// flipped to a new directory).
func TestWatcherSeesChangesForEveryPathSpelling(t *testing.T) {
	for _, tc := range []struct {
		name string
		// setup writes the first version under dir and returns the
		// sources as the operator would spell them (relative to dir).
		setup func(t *testing.T, dir string) Sources
		// change replaces the content with per-client-rate-limit: 2.
		change func(t *testing.T, dir string)
	}{
		{
			name: "bare_config_name",
			setup: func(t *testing.T, dir string) Sources {
				write(t, filepath.Join(dir, "relayctl.yaml"), "per-client-rate-limit: 1\n")
				return Sources{File: "relayctl.yaml", FileExplicit: true}
			},
			change: func(t *testing.T, dir string) {
				write(t, filepath.Join(dir, "relayctl.yaml"), "per-client-rate-limit: 2\n")
			},
		},
		{
			name: "dot_slash_config_name",
			setup: func(t *testing.T, dir string) Sources {
				write(t, filepath.Join(dir, "relayctl.yaml"), "per-client-rate-limit: 1\n")
				return Sources{File: "./relayctl.yaml", FileExplicit: true}
			},
			change: func(t *testing.T, dir string) {
				write(t, filepath.Join(dir, "relayctl.yaml"), "per-client-rate-limit: 2\n")
			},
		},
		{
			name: "policy_dir_trailing_slash",
			setup: func(t *testing.T, dir string) Sources {
				write(t, filepath.Join(dir, "policy.d", "fleet.yaml"), "settings: {per-client-rate-limit: 1}\n")
				return Sources{Policies: []string{filepath.Join(dir, "policy.d") + "/"}}
			},
			change: func(t *testing.T, dir string) {
				write(t, filepath.Join(dir, "policy.d", "fleet.yaml"), "settings: {per-client-rate-limit: 2}\n")
			},
		},
		{
			name: "relative_policy_dir_trailing_slash",
			setup: func(t *testing.T, dir string) Sources {
				write(t, filepath.Join(dir, "policy.d", "fleet.yaml"), "settings: {per-client-rate-limit: 1}\n")
				return Sources{Policies: []string{"policy.d/"}}
			},
			change: func(t *testing.T, dir string) {
				write(t, filepath.Join(dir, "policy.d", "fleet.yaml"), "settings: {per-client-rate-limit: 2}\n")
			},
		},
		{
			name: "editor_renames_over_the_file",
			setup: func(t *testing.T, dir string) Sources {
				write(t, filepath.Join(dir, "relayctl.yaml"), "per-client-rate-limit: 1\n")
				return Sources{File: filepath.Join(dir, "relayctl.yaml"), FileExplicit: true}
			},
			change: func(t *testing.T, dir string) {
				tmp := filepath.Join(dir, ".relayctl.yaml.swp")
				write(t, tmp, "per-client-rate-limit: 2\n")
				if err := os.Rename(tmp, filepath.Join(dir, "relayctl.yaml")); err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name: "configmap_data_link_flip",
			setup: func(t *testing.T, dir string) Sources {
				configMap(t, dir, "..2026_11_30_22_00_00.1", "per-client-rate-limit: 1\n")
				return Sources{File: filepath.Join(dir, "relayctl.yaml"), FileExplicit: true}
			},
			change: func(t *testing.T, dir string) {
				configMap(t, dir, "..2026_11_30_22_05_00.2", "per-client-rate-limit: 2\n")
			},
		},
		{
			name: "configmap_policy_dir",
			setup: func(t *testing.T, dir string) Sources {
				configMapFile(t, filepath.Join(dir, "policy.d"), "fleet.yaml", "..v1", "settings: {per-client-rate-limit: 1}\n")
				return Sources{Policies: []string{filepath.Join(dir, "policy.d")}}
			},
			change: func(t *testing.T, dir string) {
				configMapFile(t, filepath.Join(dir, "policy.d"), "fleet.yaml", "..v2", "settings: {per-client-rate-limit: 2}\n")
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			t.Chdir(dir)
			src := tc.setup(t, dir)
			var applied atomic.Value
			w, first, err := NewWatcher(testSpec(), src, WatchOptions{
				Debounce: 20 * time.Millisecond,
				OnChange: func(c Change) {
					for _, e := range c.Applied {
						if e.Name == "per-client-rate-limit" {
							applied.Store(e.Value)
						}
					}
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			if v := entry(t, first, "per-client-rate-limit").Value; v != "1" {
				t.Fatalf("first resolution has %s, want 1", v)
			}
			go w.Run(t.Context())
			select {
			case <-w.Watching():
			case <-time.After(5 * time.Second):
				t.Fatal("watcher did not start")
			}
			tc.change(t, dir)
			waitCond(t, "the change to be applied", func() bool { return applied.Load() == "2" })
		})
	}
}

// configMap lays out dir as the kubelet does for a ConfigMap volume with
// one key, relayctl.yaml, and (on later calls) swaps it atomically.
func configMap(t *testing.T, dir, version, body string) {
	t.Helper()
	configMapFile(t, dir, "relayctl.yaml", version, body)
}

// configMapFile writes dir/version/name, points dir/..data at version
// by renaming a fresh link over it, links dir/name to ..data/name, and
// removes the version it replaced.
func configMapFile(t *testing.T, dir, name, version, body string) {
	t.Helper()
	write(t, filepath.Join(dir, version, name), body)
	old, _ := os.Readlink(filepath.Join(dir, "..data"))
	tmp := filepath.Join(dir, "..data_tmp")
	if err := os.Symlink(version, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(dir, name)); err != nil {
		if err := os.Symlink(filepath.Join("..data", name), filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	if old != "" {
		if err := os.RemoveAll(filepath.Join(dir, old)); err != nil {
			t.Fatal(err)
		}
	}
}
