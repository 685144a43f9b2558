package loadgen

import (
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	// Fields after the name: state ppid pgrp session tty tpgid flags
	// minflt cminflt majflt cmajflt utime stime …
	tests := []struct {
		name    string
		stat    string
		want    time.Duration
		wantErr bool
	}{
		{"plain", "123 (relayctl) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0", 3 * time.Second, false},
		{"name-with-parens-and-spaces", "123 (a) b (c) R 1 2 3 4 5 6 7 8 9 10 1 2 0", 30 * time.Millisecond, false},
		{"too-short", "123 (x) S 1 2 3", 0, true},
		{"no-name", "123 S 1 2", 0, true},
		{"not-a-number", "123 (x) S 1 2 3 4 5 6 7 8 9 10 x 2 0", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStatCPU([]byte(tt.stat))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("parseStatCPU = %v, %v; want %v, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestParseStatusRSS(t *testing.T) {
	tests := []struct {
		name    string
		status  string
		want    int64
		wantErr bool
	}{
		{"present", "Name:\tderper\nVmPeak:\t  9000 kB\nVmRSS:\t   1234 kB\nThreads: 5\n", 1234 << 10, false},
		{"absent", "Name:\tzombie\nState:\tZ\n", 0, true},
		{"garbled", "VmRSS:\tlots kB\n", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStatusRSS(tt.status)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("parseStatusRSS = %v, %v; want %v, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestProcessOfThisTest(t *testing.T) {
	if rss, err := ProcessRSS(0); err != nil || rss <= 0 {
		t.Errorf("ProcessRSS(self) = %d, %v", rss, err)
	}
	if _, err := ProcessCPU(0); err != nil {
		t.Errorf("ProcessCPU(self): %v", err)
	}
	// PID_MAX_LIMIT is 2^22, so this process cannot exist.
	if _, err := ProcessCPU(1 << 23); err == nil {
		t.Error("ProcessCPU of a process that cannot exist succeeded")
	}
}

func TestPercentile(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		var d []time.Duration
		for _, x := range v {
			d = append(d, time.Duration(x)*time.Millisecond)
		}
		return d
	}
	tests := []struct {
		name    string
		samples []time.Duration
		pct     int
		want    time.Duration
	}{
		{"single", ms(7), 99, 7 * time.Millisecond},
		{"median-of-four", ms(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{"p99-of-hundred-takes-99th", ms(seq(100)...), 99, 99 * time.Millisecond},
		{"p99-of-thousand", ms(seq(1000)...), 99, 990 * time.Millisecond},
		{"p0-is-minimum", ms(3, 5), 0, 3 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := percentile(tt.samples, tt.pct); got != tt.want {
				t.Errorf("percentile(%d) = %v, want %v", tt.pct, got, tt.want)
			}
		})
	}
}

func seq(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i + 1
	}
	return s
}

func TestSummarizeCountsLost(t *testing.T) {
	l := summarize([]time.Duration{time.Millisecond, 3 * time.Millisecond}, 5)
	if l.Samples != 2 || l.Lost != 3 || l.Max != 3 {
		t.Errorf("summarize = %+v", l)
	}
	if l := summarize(nil, 0); l.Samples != 0 || l.P99 != 0 {
		t.Errorf("summarize(nothing) = %+v", l)
	}
}
