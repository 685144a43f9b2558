package config

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// watchPaths are a watcher's local sources as cleaned absolute paths, so
// that a bare name (relayctl.yaml), ./relayctl.yaml and dir/ compare equal
// to the absolute names fsnotify reports for a watched directory.
type watchPaths struct {
	file       string   // the config file, "" for none
	policyDirs []string // policy sources that are directories
	policyFile []string // policy sources that are single files
	overlays   []string // files named by settings (e.g. --rate-config)
	urls       []string
}

func watchedPaths(src Sources, overlays []string) watchPaths {
	var p watchPaths
	for _, o := range overlays {
		p.overlays = append(p.overlays, absPath(o))
	}
	if src.File != "" {
		p.file = absPath(src.File)
	}
	for _, s := range src.Policies {
		if strings.HasPrefix(s, "https://") || strings.HasPrefix(s, "http://") {
			p.urls = append(p.urls, s)
			continue
		}
		a := absPath(s)
		if fi, err := os.Stat(a); err == nil && fi.IsDir() {
			p.policyDirs = append(p.policyDirs, a)
		} else {
			p.policyFile = append(p.policyFile, a)
		}
	}
	return p
}

// absPath cleans p and makes it absolute; it stays as given (cleaned) if
// the working directory is unknown.
func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return filepath.Clean(p)
}

// dirs are the directories to watch: each file's directory and each
// policy directory.
func (p watchPaths) dirs() []string {
	var out []string
	add := func(d string) {
		if !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	if p.file != "" {
		add(filepath.Dir(p.file))
	}
	for _, f := range p.policyFile {
		add(filepath.Dir(f))
	}
	for _, f := range p.overlays {
		add(filepath.Dir(f))
	}
	for _, d := range p.policyDirs {
		add(d)
	}
	return out
}

// names reports whether an event's path is one of the files read.
func (p watchPaths) names(event string) bool {
	event = absPath(event)
	if event == p.file || slices.Contains(p.policyFile, event) || slices.Contains(p.overlays, event) {
		return true
	}
	base := filepath.Base(event)
	return slices.Contains(p.policyDirs, filepath.Dir(event)) && isPolicyFile(base) && !strings.HasPrefix(base, ".")
}

// fingerprint identifies what every source resolves to now (through
// symlinks): a link flipped to another file changes it even when the
// content's size and time happen to match.
func (p watchPaths) fingerprint() string {
	var b strings.Builder
	stat := func(path string) {
		fi, err := os.Stat(path)
		if err != nil {
			fmt.Fprintf(&b, "%s:-;", path)
			return
		}
		target, _ := filepath.EvalSymlinks(path)
		fmt.Fprintf(&b, "%s:%s:%d:%d;", path, target, fi.Size(), fi.ModTime().UnixNano())
	}
	if p.file != "" {
		stat(p.file)
	}
	for _, f := range p.policyFile {
		stat(f)
	}
	for _, f := range p.overlays {
		stat(f)
	}
	for _, d := range p.policyDirs {
		entries, _ := os.ReadDir(d)
		for _, e := range entries {
			if name := e.Name(); !strings.HasPrefix(name, ".") && isPolicyFile(name) {
				stat(filepath.Join(d, name))
			}
		}
	}
	return b.String()
}
