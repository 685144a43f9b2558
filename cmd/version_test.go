package cmd

import (
	"runtime/debug"
	"testing"
)

// TestVersionFromBuildInfo: the revision comes from go build's vcs.*
// settings, else from a pseudo-version's commit; without either the line
// says the revision is unknown and why.
func TestVersionFromBuildInfo(t *testing.T) {
	for _, tc := range []struct {
		name string
		bi   debug.BuildInfo
		want string
	}{
		{"go_build_in_checkout", debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.0.0-20261122015536-f952679348de"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "f952679348de4c8df7e05cc0a6c6655074f6b130"}, {Key: "vcs.modified", Value: "true"},
		}}, "relayctl v0.0.0-20261122015536-f952679348de (f952679348de4c8df7e05cc0a6c6655074f6b130, modified) go1.26.8"},
		{"go_install_at_commit", debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.0.0-20261122015536-f952679348de"}},
			"relayctl v0.0.0-20261122015536-f952679348de (f952679348de) go1.26.8"},
		{"go_install_after_tag", debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.4-0.20261122015536-f952679348de"}},
			"relayctl v1.2.4-0.20261122015536-f952679348de (f952679348de) go1.26.8"},
		{"release", debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.3"}},
			"relayctl v1.2.3 (revision unknown: not built by go build in a git checkout) go1.26.8"},
		{"go_run", debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}},
			"relayctl (devel) (revision unknown: not built by go build in a git checkout) go1.26.8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := versionFrom(&tc.bi).String(); got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}
