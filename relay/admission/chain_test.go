package admission

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/netip"
	"testing"

	"github.com/relayctl/relayctl/internal/metrics"
	"github.com/relayctl/relayctl/relay/key"
)

type namedCheck struct {
	*countingCheck
	name string
}

func (n namedCheck) Name() string { return n.name }

func TestChainOrder(t *testing.T) {
	tests := []struct {
		name          string
		first, second Result
		wantAdmit     bool
		wantSecond    int64 // calls of the second check
		wantMetric    string
	}{
		{"both_allow", Allow, Allow, true, 1, `relayctl_admission_decisions{check="second",result="allow"} 1`},
		{"first_denies_second_not_asked", Deny, Allow, false, 0, `relayctl_admission_decisions{check="first",result="deny"} 1`},
		{"second_denies", Allow, Deny, false, 1, `relayctl_admission_decisions{check="second",result="deny"} 1`},
		{"fail_open_continues", FailOpen, Deny, false, 1, `relayctl_admission_decisions{check="first",result="fail_open"} 1`},
		{"unreachable_rejects", Unreachable, Allow, false, 0, `relayctl_admission_decisions{check="first",result="unreachable"} 1`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			first := namedCheck{newCountingCheck(tc.first), "first"}
			second := namedCheck{newCountingCheck(tc.second), "second"}
			var logs bytes.Buffer
			reg := metrics.NewRegistry()
			chain := NewChain(slog.New(slog.NewJSONHandler(&logs, nil)), reg, first, second)
			k := key.NewNode().Public()
			err := chain.Admit(t.Context(), Request{Key: k, Source: netip.MustParseAddr("192.0.2.9")})
			if (err == nil) != tc.wantAdmit {
				t.Fatalf("admit error %v, want admitted=%v", err, tc.wantAdmit)
			}
			if got := second.calls.Load(); got != tc.wantSecond {
				t.Fatalf("second check asked %d times, want %d", got, tc.wantSecond)
			}
			mustContain(t, promText(t, reg), tc.wantMetric)
			if tc.wantAdmit {
				return
			}
			// The rejection is one structured line naming key, check and reason.
			var rec map[string]any
			for line := range bytes.Lines(logs.Bytes()) {
				var m map[string]any
				if json.Unmarshal(line, &m) == nil && m["client"] == k.String() && m["reason"] != nil && m["level"] == "INFO" {
					rec = m
				}
			}
			if rec == nil {
				t.Fatalf("no rejection line in:\n%s", logs.String())
			}
			want := "client " + k.String() + " rejected: " + err.Error()
			if rec["msg"] != want || rec["source"] != "192.0.2.9" || rec["check"] == "" {
				t.Fatalf("rejection line %v, want msg %q with source and check", rec, want)
			}
		})
	}
}

func TestChainCountsCacheHits(t *testing.T) {
	reg := metrics.NewRegistry()
	inner := newCountingCheck(Allow)
	chain := NewChain(nil, reg, Cached(inner, CacheOptions{}))
	k := key.NewNode().Public()
	for range 3 {
		if err := chain.Admit(t.Context(), Request{Key: k}); err != nil {
			t.Fatal(err)
		}
	}
	mustContain(t, promText(t, reg),
		`relayctl_admission_decisions{check="fake",result="allow"} 3`,
		`relayctl_admission_cache_hits{check="fake"} 2`)
}
