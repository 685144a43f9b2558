package admission

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/relayctl/relayctl/relay/key"
)

// The LocalAPI exchange, as tailscaled serves it (ipn/localapi):
//
//	GET /localapi/v0/whois?addr=nodekey%3A<64 hex> HTTP/1.1
//	Host: local-tailscaled.sock
//
// over the unix socket. 200 carries a WhoIsResponse JSON object; 404 means
// no node with that key is in tailscaled's netmap (self included); a
// tailscaled from before node-key lookups (tailscale issue 12617) answers
// 400 "invalid 'addr' parameter"; 403 means the caller may not read.
const (
	localAPIHost     = "local-tailscaled.sock"
	whoisPath        = "/localapi/v0/whois"
	statusPath       = "/localapi/v0/status"
	tooOldMarker     = "invalid 'addr' parameter"
	maxLocalAPIReply = 1 << 20
	// DefaultLocalAPITimeout bounds one LocalAPI call.
	DefaultLocalAPITimeout = 5 * time.Second
)

var (
	// ErrNotFound: tailscaled knows no node with the key.
	ErrNotFound = errors.New("not found in local tailscaled")
	// ErrTooOld: tailscaled cannot look up node keys.
	ErrTooOld = errors.New("tailscaled version is too old (out of sync with relayctl); update tailscaled")
)

// UnreachableError is a failure to talk to tailscaled at all.
type UnreachableError struct {
	Socket string
	Err    error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("tailscaled unreachable at %s: %v", e.Socket, e.Err)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// Hint tells an operator what to look at.
func (e *UnreachableError) Hint() string {
	switch {
	case errors.Is(e.Err, errPermission):
		return "the socket exists but this user may not connect to it: run relayctl as root or as tailscaled's operator user, or fix the socket's permissions"
	case errors.Is(e.Err, errRefused):
		return "nothing listens on the socket: start tailscaled (systemctl start tailscaled), or pass the socket it really uses with --socket"
	case errors.Is(e.Err, errNoSocket):
		return "no socket there: is tailscaled running? If it uses another socket, pass its path with --socket"
	default:
		return "is tailscaled running and listening on that socket? (check: tailscale --socket " + e.Socket + " status)"
	}
}

// LocalAPIError is an unexpected LocalAPI reply.
type LocalAPIError struct {
	Status int
	Body   string
}

func (e *LocalAPIError) Error() string {
	return fmt.Sprintf("tailscaled LocalAPI: %d %s: %s", e.Status, http.StatusText(e.Status), e.Body)
}

// WhoIs is the part of tailscaled's WhoIsResponse relayctl uses.
type WhoIs struct {
	Node struct {
		ID   int64
		Name string // the node's MagicDNS name
		Key  key.NodePublic
	}
	UserProfile struct {
		LoginName string
	}
}

// Status is the part of tailscaled's status (without peers) relayctl uses.
type Status struct {
	Version      string
	BackendState string // "Running" when connected to its tailnet
	Self         *struct {
		PublicKey key.NodePublic
		HostName  string
	}
}

// LocalAPI talks to a tailscaled over its unix socket.
type LocalAPI struct {
	socket  string
	client  *http.Client
	timeout time.Duration
}

// NewLocalAPI returns a client for the tailscaled listening on socket.
func NewLocalAPI(socket string) *LocalAPI {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
		Proxy:           nil, // a unix socket is never proxied
		MaxIdleConns:    4,
		IdleConnTimeout: 30 * time.Second,
	}
	return &LocalAPI{socket: socket, client: &http.Client{Transport: tr}, timeout: DefaultLocalAPITimeout}
}

// Socket is the socket path.
func (c *LocalAPI) Socket() string { return c.socket }

// WhoIsNodeKey asks tailscaled who owns k. Errors: ErrNotFound, ErrTooOld,
// *UnreachableError, *LocalAPIError, or a decoding error.
func (c *LocalAPI) WhoIsNodeKey(ctx context.Context, k key.NodePublic) (*WhoIs, error) {
	body, err := c.get(ctx, whoisPath+"?addr="+url.QueryEscape(k.String()))
	if err != nil {
		var le *LocalAPIError
		if errors.As(err, &le) {
			switch {
			case le.Status == http.StatusNotFound:
				return nil, ErrNotFound
			case le.Status == http.StatusBadRequest && strings.Contains(le.Body, tooOldMarker):
				return nil, ErrTooOld
			}
		}
		return nil, err
	}
	var w WhoIs
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, fmt.Errorf("tailscaled LocalAPI whois reply: %w", err)
	}
	return &w, nil
}

// Status returns tailscaled's own state, without its peers.
func (c *LocalAPI) Status(ctx context.Context) (*Status, error) {
	body, err := c.get(ctx, statusPath+"?peers=false")
	if err != nil {
		return nil, err
	}
	var s Status
	if err := json.Unmarshal(body, &s); err != nil {
		return nil, fmt.Errorf("tailscaled LocalAPI status reply: %w", err)
	}
	return &s, nil
}

func (c *LocalAPI) get(ctx context.Context, pathQuery string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+localAPIHost+pathQuery, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, &UnreachableError{Socket: c.socket, Err: classifyDialError(err)}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxLocalAPIReply))
	if err != nil {
		return nil, &UnreachableError{Socket: c.socket, Err: err}
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &LocalAPIError{Status: resp.StatusCode, Body: strings.TrimSpace(string(body))}
	}
	return body, nil
}

// CloseIdleConnections releases pooled socket connections.
func (c *LocalAPI) CloseIdleConnections() { c.client.CloseIdleConnections() }
