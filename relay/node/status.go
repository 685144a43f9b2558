package node

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/relayctl/relayctl/config"
	"github.com/relayctl/relayctl/internal/atomicfile"
	"github.com/relayctl/relayctl/internal/logging"
)

// RunningStatus is what a running node keeps beside its key for `relayctl
// config show`: the values it started with and the restart-only settings
// changed since.
type RunningStatus struct {
	PID     int               `json:"pid"`
	Started time.Time         `json:"started"`
	Values  map[string]string `json:"values"`
	Pending []string          `json:"pending_restart"`
}

// statusFileFor is where a node keeps its running status: beside its key.
func statusFileFor(keyPath string) string {
	return filepath.Join(filepath.Dir(keyPath), "running-config.json")
}

// ReadRunningStatus returns the status of a live node using keyPath's
// directory, if there is one.
func ReadRunningStatus(keyPath string) (*RunningStatus, bool) {
	b, err := os.ReadFile(statusFileFor(keyPath))
	if err != nil {
		return nil, false
	}
	var st RunningStatus
	if json.Unmarshal(b, &st) != nil || st.PID <= 0 {
		return nil, false
	}
	if p, err := os.FindProcess(st.PID); err != nil || p.Signal(syscall.Signal(0)) != nil {
		return nil, false // the node that wrote it is gone
	}
	return &st, true
}

// PendingFor says whether e, as config show resolved it, is a change the
// running node has not applied. The node resolves its own sources (its
// command line and environment, the file and policy as they are now) on
// every change and lists what differs from what it started with: that
// list is the answer, since config show's command line is not the
// node's. Only a value config show was itself given on its command line
// is compared directly: "what would serve --flag v change?".
func (st *RunningStatus) PendingFor(e config.Entry) bool {
	if e.Source == config.SourceFlag {
		v, ok := st.Values[e.Name]
		return ok && v != storedValue(e)
	}
	return slices.Contains(st.Pending, e.Name)
}

// writeRunningStatus writes the status file through a fresh temporary
// file (never a fixed name an attacker could plant a symlink at).
func writeRunningStatus(path string, started time.Time, initial *config.Result, pending []config.Entry) error {
	st := RunningStatus{PID: os.Getpid(), Started: started, Values: map[string]string{}}
	for _, e := range initial.Entries {
		st.Values[e.Name] = storedValue(e)
	}
	for _, e := range pending {
		st.Pending = append(st.Pending, e.Name)
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(path, b, 0o600)
}

// storedValue is a setting as the status file keeps it: any URL without
// credentials or query (a webhook's token, say). config show compares
// the same form.
func storedValue(e config.Entry) string { return logging.RedactURL(e.Value) }
