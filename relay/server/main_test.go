package server_test

import (
	"testing"

	"go.uber.org/goleak"
)

// Every test must leave no goroutine behind: a relay that leaks one per
// connection dies slowly in production.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
