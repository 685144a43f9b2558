package derpmap

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/relayctl/relayctl/internal/logging"
)

// Limits on fetching a DERP map.
const (
	MaxMapSize            = 4 << 20 // bytes; Tailscale's default map is ~20 KiB
	DefaultMapLoadTimeout = 30 * time.Second
)

// LoadOptions tune Load; DefaultLoadOptions is the usual start. The zero
// value fetches with no time limit but ctx's.
type LoadOptions struct {
	// HTTPClient fetches http(s) sources; nil means http.Client's
	// defaults.
	HTTPClient *http.Client
	// Timeout bounds an http(s) fetch; 0 means no limit of its own.
	Timeout time.Duration
	// HTTPSOnly refuses http:// sources and redirects that leave https:
	// a map fetched in clear can be replaced on the way, and a prober
	// with a mesh key trusts the map to say where the key may go.
	HTTPSOnly bool
}

// DefaultLoadOptions bound a fetch by DefaultMapLoadTimeout.
func DefaultLoadOptions() LoadOptions {
	return LoadOptions{Timeout: DefaultMapLoadTimeout}
}

// Load reads a DERP map from src — a file path, a file:// URL or an
// http(s):// URL — in any format Decode knows, and validates it. Errors
// name src; a map that decodes but is wrong is reported as a
// *ValidationError.
func Load(ctx context.Context, src string, opts LoadOptions) (*DERPMap, error) {
	b, err := readMapSource(ctx, src, opts)
	if err != nil {
		return nil, err
	}
	m, err := decodeValid(src, b)
	if err != nil {
		return nil, fmt.Errorf("DERP map %s: %w", logging.RedactURL(src), err)
	}
	return m, nil
}

// decodeValid is Parse for Tailscale's JSON, else Decode and Validate.
func decodeValid(src string, b []byte) (*DERPMap, error) {
	if SniffFormat(b) == FormatJSON {
		return Parse(b)
	}
	d, err := Decode(src, b)
	if err != nil {
		return nil, err
	}
	if err := d.Map.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", d.Format, err)
	}
	return d.Map, nil
}

// Parse decodes and validates a DERP map in Tailscale's JSON, strictly:
// one document, no comments.
func Parse(b []byte) (*DERPMap, error) {
	var m DERPMap
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("decode JSON: %w", err)
	}
	if dec.More() {
		return nil, errors.New("decode JSON: more than one document")
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

func readMapSource(ctx context.Context, src string, opts LoadOptions) ([]byte, error) {
	switch {
	case src == "":
		return nil, errors.New("no DERP map source given")
	case strings.HasPrefix(src, "http://"), strings.HasPrefix(src, "https://"):
		return fetchMap(ctx, src, opts)
	case strings.HasPrefix(src, "file://"):
		u, err := url.Parse(src)
		if err != nil {
			return nil, fmt.Errorf("DERP map %s: %w", src, err)
		}
		if u.Host != "" && u.Host != "localhost" {
			return nil, fmt.Errorf("DERP map %s: file URL with host %q: want file:///absolute/path", src, u.Host)
		}
		return readMapFile(src, u.Path)
	case strings.Contains(src, "://"):
		return nil, fmt.Errorf("DERP map %s: unsupported scheme: want a path, file://, http:// or https://", src)
	}
	return readMapFile(src, src)
}

func readMapFile(src, path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("DERP map %s: %w", src, err)
	}
	defer f.Close()
	return readLimited(src, f)
}

func fetchMap(ctx context.Context, src string, opts LoadOptions) ([]byte, error) {
	if opts.HTTPSOnly && !strings.HasPrefix(src, "https://") {
		return nil, fmt.Errorf("DERP map %s: want an https:// URL (with a mesh key, a map fetched in clear could send the key anywhere)", logging.RedactURL(src))
	}
	hc := opts.HTTPClient
	if hc == nil {
		hc = &http.Client{}
	}
	if opts.HTTPSOnly {
		c := *hc
		c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
			if req.URL.Scheme != "https" {
				return fmt.Errorf("redirect to %s refused: it leaves https", logging.RedactURL(req.URL.String()))
			}
			if len(via) >= 10 {
				return errors.New("stopped after 10 redirects")
			}
			return nil
		}
		hc = &c
	}
	if opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.Timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
	if err != nil {
		return nil, fmt.Errorf("DERP map %s: %w", logging.RedactURL(src), err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its URL would show credentials and query
		}
		return nil, fmt.Errorf("DERP map %s: %w", logging.RedactURL(src), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("DERP map %s: HTTP %s", logging.RedactURL(src), resp.Status)
	}
	return readLimited(logging.RedactURL(src), resp.Body)
}

func readLimited(src string, r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxMapSize+1))
	if err != nil {
		return nil, fmt.Errorf("DERP map %s: %w", src, err)
	}
	if len(b) > MaxMapSize {
		return nil, fmt.Errorf("DERP map %s: larger than %d bytes", src, MaxMapSize)
	}
	return b, nil
}
