package interop

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// Readings of a relay process's health from outside: resident memory from
// /proc, goroutines and metrics from its loopback-only /debug/ pages.

// statsClient opens a fresh connection per request, so that the readings
// do not themselves leave an idle keep-alive connection (and its
// goroutines) in the relay.
var statsClient = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// rssBytes is VmRSS of process pid (Linux /proc).
func rssBytes(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// "VmRSS:	   12345 kB"
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("/proc/%d/status VmRSS %q: %w", pid, v, err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no VmRSS line", pid)
}

// debugGet fetches a /debug/ page from the relay at base (http://host:port).
func debugGet(ctx context.Context, base, path string) (string, error) {
	return getPage(ctx, statsClient, base+path)
}

// getPage GETs url with hc and returns the body of a 200 answer.
func getPage(ctx context.Context, hc *http.Client, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return string(b), nil
}

// goroutineCount is the total on the first line of the goroutine profile:
// "goroutine profile: total N".
func goroutineCount(ctx context.Context, base string) (int, error) {
	body, err := debugGet(ctx, base, "/debug/pprof/goroutine?debug=1")
	if err != nil {
		return 0, err
	}
	first, _, _ := strings.Cut(body, "\n")
	n, ok := strings.CutPrefix(first, "goroutine profile: total ")
	if !ok {
		return 0, fmt.Errorf("goroutine profile starts %q", first)
	}
	return strconv.Atoi(strings.TrimSpace(n))
}

// varzValue is the value of the series named exactly series (name plus
// labels, as printed) in /debug/varz.
func varzValue(ctx context.Context, base, series string) (float64, error) {
	body, err := debugGet(ctx, base, "/debug/varz")
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(body) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), series+" "); ok {
			return strconv.ParseFloat(v, 64)
		}
	}
	return 0, fmt.Errorf("/debug/varz has no series %s", series)
}
