package client

import (
	"testing"

	"go.uber.org/goleak"
)

// Every test must leave no goroutine behind: probe, prune and the mesh
// forwarder open clients for as long as the process runs, so one stray
// reader per connection adds up.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
