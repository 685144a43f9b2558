package cmd

import (
	"encoding/json"
	"fmt"
	"regexp"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// buildVersion describes the running binary from its embedded build info.
type buildVersion struct {
	Version   string `json:"version"`
	Revision  string `json:"revision,omitempty"`
	Time      string `json:"time,omitempty"`
	Modified  bool   `json:"modified,omitempty"`
	GoVersion string `json:"go_version"`
}

func readBuildVersion() buildVersion {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return buildVersion{Version: "(devel)"}
	}
	return versionFrom(bi)
}

// pseudoRev finds the commit in a pseudo-version
// (v0.0.0-20261122015536-f952679348de), which is what a binary installed
// with go install module@commit carries instead of vcs.* settings.
var pseudoRev = regexp.MustCompile(`[-.]\d{14}-([0-9a-f]{12})(\+incompatible)?$`)

// versionFrom reads the version and VCS data go build stamps into a
// binary built in a git checkout (vcs.revision, vcs.time, vcs.modified),
// or the commit of a pseudo-version.
func versionFrom(bi *debug.BuildInfo) buildVersion {
	v := buildVersion{Version: "(devel)", GoVersion: bi.GoVersion}
	if bi.Main.Version != "" {
		v.Version = bi.Main.Version
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Revision = s.Value
		case "vcs.time":
			v.Time = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	if v.Revision == "" {
		if m := pseudoRev.FindStringSubmatch(v.Version); m != nil {
			v.Revision = m[1]
		}
	}
	return v
}

func (v buildVersion) String() string {
	s := "relayctl " + v.Version
	switch {
	case v.Revision != "":
		s += " (" + v.Revision
		if v.Modified {
			s += ", modified"
		}
		s += ")"
	default:
		// go run, go test and -buildvcs=false builds carry no VCS data.
		s += " (revision unknown: not built by go build in a git checkout)"
	}
	return s + " " + v.GoVersion
}

func newVersionCmd(streams IOStreams) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "version",
		Short: "Print relayctl's version, VCS revision and Go version",
		Example: `  relayctl version
  relayctl version --json | jq -r .revision`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			v := readBuildVersion()
			if asJSON {
				enc := json.NewEncoder(streams.Out)
				enc.SetIndent("", "  ")
				return enc.Encode(v)
			}
			_, err := fmt.Fprintln(streams.Out, v.String())
			return err
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")
	return c
}
