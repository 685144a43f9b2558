package config

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/spf13/viper"

	"github.com/relayctl/relayctl/internal/atomicfile"
)

// maxPolicyBody bounds a policy document fetched from a URL.
const maxPolicyBody = 4 << 20

// PolicyFetcher reads fleet policy URLs, for a relay's start and for its
// watcher alike:
//
//   - https only, and no redirect that leaves https: the policy can set
//     trusted proxies and access rules, so it must come from who it claims;
//   - revalidated with If-None-Match, so an unchanged policy costs a 304;
//   - a document that does not parse is refused like an unreachable URL;
//   - when the URL cannot be read, the last good copy answers: the one in
//     memory, or at start the one saved in CacheDir, so a relay restarted
//     while the policy server is down starts on the rules it last had. With
//     no copy at all the fetch fails (and serve refuses to start).
type PolicyFetcher struct {
	client   *http.Client
	cacheDir string

	mu     sync.Mutex
	logger *slog.Logger // nil: warnings wait for SetLogger
	byURL  map[string]*policyCopy
}

// policyCopy is the last good document of one URL.
type policyCopy struct {
	ETag    string    `json:"etag,omitempty"`
	Fetched time.Time `json:"fetched"`
	URL     string    `json:"url"` // redacted: the cache file must hold no token
	Body    string    `json:"body"`

	stale, warned bool
}

// FetchOptions configure NewPolicyFetcher.
type FetchOptions struct {
	// HTTPClient fetches (nil: a client with a 30 s timeout); its
	// redirect policy is replaced by the https-only one.
	HTTPClient *http.Client
	// CacheDir keeps the last good copy of each URL across restarts
	// ("" keeps them in memory only). Created 0700 when missing; refused
	// when others may write to it.
	CacheDir string
	// Logger gets "using the last good copy" warnings; nil defers them to
	// SetLogger.
	Logger *slog.Logger
}

// NewPolicyFetcher returns a fetcher; use its Fetch as Sources.Fetch.
func NewPolicyFetcher(opts FetchOptions) *PolicyFetcher {
	c := &http.Client{Timeout: 30 * time.Second}
	if opts.HTTPClient != nil {
		cp := *opts.HTTPClient
		c = &cp
	}
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if req.URL.Scheme != "https" {
			return fmt.Errorf("redirect to %s refused: fleet policy is read over https only", redactURL(req.URL))
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
	return &PolicyFetcher{client: c, cacheDir: opts.CacheDir, logger: opts.Logger, byURL: map[string]*policyCopy{}}
}

// SetLogger sets where warnings go, and reports URLs already being served
// from a saved copy.
func (f *PolicyFetcher) SetLogger(l *slog.Logger) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.logger = l
	for u, c := range f.byURL {
		f.warnStale(u, c, nil)
	}
}

// CheckPolicyURL accepts https URLs with a host.
func CheckPolicyURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("fleet policy %s: not a URL", redactRaw(raw))
	}
	if u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("fleet policy %s: want an https:// URL (a policy read in clear could be replaced on the way)", redactURL(u))
	}
	return nil
}

// isPolicyURL says whether a --policy source is a URL rather than a path.
func isPolicyURL(s string) bool { return strings.Contains(s, "://") }

// Fetch returns the policy document at rawURL, or its last good copy.
func (f *PolicyFetcher) Fetch(rawURL string) ([]byte, error) {
	if err := CheckPolicyURL(rawURL); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	prev := f.byURL[rawURL]
	if prev == nil {
		prev = f.load(rawURL)
		if prev != nil {
			f.byURL[rawURL] = prev
		}
	}
	body, etag, err := f.get(rawURL, prev)
	if err == nil && body != nil {
		_, err = policyDocFromBytes(rawURL, body)
	}
	if err != nil {
		if prev == nil {
			where := ""
			if f.cacheDir != "" {
				where = " in " + f.cacheDir
			}
			return nil, fmt.Errorf("%w; no saved copy%s to fall back on", err, where)
		}
		prev.stale = true
		f.warnStale(rawURL, prev, err)
		return []byte(prev.Body), nil
	}
	if body == nil { // 304: the copy we have is current
		f.recovered(rawURL, prev)
		return []byte(prev.Body), nil
	}
	c := &policyCopy{ETag: etag, Fetched: time.Now().UTC(), URL: redactRaw(rawURL), Body: string(body)}
	if prev != nil {
		f.recovered(rawURL, prev)
	}
	f.byURL[rawURL] = c
	f.save(rawURL, c)
	return body, nil
}

// get makes one request. A nil body with a nil error is a 304.
func (f *PolicyFetcher) get(rawURL string, prev *policyCopy) (body []byte, etag string, err error) {
	shown := redactRaw(rawURL)
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, "", fmt.Errorf("fleet policy %s: %v", shown, err)
	}
	if prev != nil && prev.ETag != "" {
		req.Header.Set("If-None-Match", prev.ETag)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its URL would show the token
		}
		return nil, "", fmt.Errorf("fleet policy %s: %w", shown, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotModified && prev != nil:
		return nil, "", nil
	case resp.StatusCode != http.StatusOK:
		return nil, "", fmt.Errorf("fleet policy %s: HTTP %s", shown, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxPolicyBody+1))
	if err != nil {
		return nil, "", fmt.Errorf("fleet policy %s: %w", shown, err)
	}
	if len(b) > maxPolicyBody {
		return nil, "", fmt.Errorf("fleet policy %s: larger than %d bytes", shown, maxPolicyBody)
	}
	return b, resp.Header.Get("ETag"), nil
}

func (f *PolicyFetcher) warnStale(rawURL string, c *policyCopy, err error) {
	if !c.stale || c.warned || f.logger == nil {
		return
	}
	c.warned = true
	attrs := []any{"url", redactRaw(rawURL), "copy_fetched", c.Fetched.Format(time.RFC3339)}
	if err != nil {
		attrs = append(attrs, "err", err)
	}
	f.logger.Warn("fleet policy URL unavailable; using the last good copy", attrs...)
}

func (f *PolicyFetcher) recovered(rawURL string, c *policyCopy) {
	if c.stale && c.warned && f.logger != nil {
		f.logger.Info("fleet policy URL answers again", "url", redactRaw(rawURL))
	}
	c.stale, c.warned = false, false
}

// cacheFile is where rawURL's copy is kept: named by a hash of the whole
// URL, so that no token appears in a file name.
func (f *PolicyFetcher) cacheFile(rawURL string) string {
	sum := sha256.Sum256([]byte(rawURL))
	return filepath.Join(f.cacheDir, "policy-"+hex.EncodeToString(sum[:12])+".json")
}

func (f *PolicyFetcher) load(rawURL string) *policyCopy {
	if f.cacheDir == "" {
		return nil
	}
	b, err := os.ReadFile(f.cacheFile(rawURL))
	if err != nil {
		return nil
	}
	var c policyCopy
	if json.Unmarshal(b, &c) != nil || c.Body == "" {
		return nil
	}
	if _, err := policyDocFromBytes(rawURL, []byte(c.Body)); err != nil {
		return nil
	}
	return &c
}

// save writes c to the cache directory through a fresh temporary file;
// failing to save only costs the fallback at the next start.
func (f *PolicyFetcher) save(rawURL string, c *policyCopy) {
	if f.cacheDir == "" {
		return
	}
	err := func() error {
		if err := ensurePrivateDir(f.cacheDir); err != nil {
			return err
		}
		b, err := json.MarshalIndent(c, "", "  ")
		if err != nil {
			return err
		}
		return atomicfile.Write(f.cacheFile(rawURL), b, 0o600)
	}()
	if err != nil && f.logger != nil {
		f.logger.Warn("cannot save the fleet policy copy; a restart while the policy server is down will fail", "dir", f.cacheDir, "err", err)
	}
}

// ensurePrivateDir creates dir 0700, or checks that others cannot write
// to it (they could plant the copy a relay starts on).
func ensurePrivateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if perm := fi.Mode().Perm(); perm&0o022 != 0 {
		return fmt.Errorf("directory %s has mode %04o: others can write to it; run: chmod go-w %s", dir, perm, dir)
	}
	return nil
}

// policyDocFromBytes parses a fetched document. Its format follows the
// URL path's extension (.yaml, .yml, .toml, .json); JSON when it has none.
func policyDocFromBytes(rawURL string, b []byte) (policyDoc, error) {
	ext := "json"
	if u, err := url.Parse(rawURL); err == nil {
		switch e := strings.TrimPrefix(path.Ext(u.Path), "."); e {
		case "yaml", "yml", "toml", "json":
			ext = e
		}
	}
	if ext == "yml" {
		ext = "yaml"
	}
	v := viper.New()
	v.SetConfigType(ext)
	if err := v.ReadConfig(bytes.NewReader(b)); err != nil {
		return policyDoc{}, fmt.Errorf("fleet policy %s: %v", redactRaw(rawURL), err)
	}
	return policyDocFrom(redactRaw(rawURL), v.AllSettings())
}

func redactRaw(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "<unparseable URL>"
	}
	return redactURL(u)
}

func redactURL(u *url.URL) string {
	c := *u
	c.User = nil
	if c.RawQuery != "" {
		c.RawQuery = "<redacted>"
	}
	c.Fragment = ""
	return c.String()
}
