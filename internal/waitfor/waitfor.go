// Package waitfor lets a test wait for a condition that has no event to
// wait on (a counter reaching a value, a connection count dropping): it
// polls the condition and fails the test, naming what it waited for, when
// the condition does not hold in time.
package waitfor

import (
	"testing"
	"time"
)

// Until calls cond every interval until it holds. Once timeout has passed
// without it, the test fails with "timed out waiting for " + what.
func Until(t testing.TB, timeout, interval time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			if cond() {
				return
			}
			t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}
