package deploy

import (
	"os/exec"
	"testing"
)

// promtool finds Prometheus' promtool, or skips saying how to get it.
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed (Debian: apt-get install prometheus); .ci/run installs it")
	}
	return p
}

// TestAlertRulesCheck runs promtool check rules on the shipped alert
// rules (docs/monitoring.md). That the names they use are served is
// checked against a running relay in cmd's TestMetricsFollowPrometheusConventions.
func TestAlertRulesCheck(t *testing.T) {
	out, err := exec.Command(promtool(t), "check", "rules", "prometheus/alerts.yml").CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
}
