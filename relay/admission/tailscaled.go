package admission

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
)

// Tailscaled admits the node keys the local tailscaled can see: its own
// and its peers' (derper's --verify-clients).
type Tailscaled struct {
	api    *LocalAPI
	logger *slog.Logger

	mu          sync.Mutex
	unreachable bool // last call failed to reach tailscaled
}

// NewTailscaled returns the check. logger may be nil.
func NewTailscaled(api *LocalAPI, logger *slog.Logger) *Tailscaled {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Tailscaled{api: api, logger: logger}
}

// Name implements Check.
func (t *Tailscaled) Name() string { return "tailscaled" }

// Check implements Check.
func (t *Tailscaled) Check(ctx context.Context, r Request) Decision {
	w, err := t.api.WhoIsNodeKey(ctx, r.Key)
	var ue *UnreachableError
	t.noteReachable(!errors.As(err, &ue), err)
	switch {
	case err == nil:
		if w.Node.Key != r.Key {
			return reject(Error, fmt.Errorf("tailscaled answered for %s when asked about %s", w.Node.Key, r.Key))
		}
		return allow()
	case errors.Is(err, ErrNotFound):
		return reject(Deny, fmt.Errorf("peer %s not authorized (not found in local tailscaled)", r.Key))
	case errors.Is(err, ErrTooOld):
		return reject(Error, err)
	case ue != nil:
		return reject(Unreachable, fmt.Errorf("%w; %s", ue, ue.Hint()))
	default:
		return reject(Error, fmt.Errorf("failed to query local tailscaled about %s: %w", r.Key, err))
	}
}

// noteReachable logs when tailscaled stops or starts answering, once per
// change rather than once per client.
func (t *Tailscaled) noteReachable(ok bool, err error) {
	t.mu.Lock()
	changed := t.unreachable == ok
	t.unreachable = !ok
	t.mu.Unlock()
	if !changed {
		return
	}
	if ok {
		t.logger.Info("tailscaled is answering again; verifying clients", "socket", t.api.Socket())
		return
	}
	var ue *UnreachableError
	errors.As(err, &ue)
	t.logger.Warn("tailscaled stopped answering; every new client is rejected until it is back",
		"socket", t.api.Socket(), "err", err, "hint", ue.Hint())
}

// Probe checks at startup that tailscaled answers and can look up node
// keys, by looking up its own. It returns a warning (nil when all is
// well) for states that work but reject everyone, such as a tailscaled
// that is not logged in, and an error when verification cannot work.
func (t *Tailscaled) Probe(ctx context.Context) (st *Status, warning, err error) {
	st, err = t.api.Status(ctx)
	if err != nil {
		return nil, nil, t.explain(err)
	}
	if st.BackendState != "Running" {
		return st, fmt.Errorf("tailscaled at %s is in state %q, not Running: clients are rejected until it is connected to its tailnet (tailscale up)", t.api.Socket(), st.BackendState), nil
	}
	if st.Self == nil || st.Self.PublicKey.IsZero() {
		return st, fmt.Errorf("tailscaled at %s reports no node key of its own", t.api.Socket()), nil
	}
	if _, err := t.api.WhoIsNodeKey(ctx, st.Self.PublicKey); err != nil {
		if errors.Is(err, ErrNotFound) {
			return st, fmt.Errorf("tailscaled at %s does not know its own node key %s yet", t.api.Socket(), st.Self.PublicKey), nil
		}
		return st, nil, t.explain(err)
	}
	return st, nil, nil
}

func (t *Tailscaled) explain(err error) error {
	var ue *UnreachableError
	var le *LocalAPIError
	switch {
	case errors.As(err, &ue):
		return fmt.Errorf("%w; %s", err, ue.Hint())
	case errors.Is(err, ErrTooOld):
		return fmt.Errorf("tailscaled at %s: %w", t.api.Socket(), err)
	case errors.As(err, &le) && le.Status == 403:
		return fmt.Errorf("tailscaled at %s refuses to answer this user (%w): run relayctl as root or as tailscaled's operator", t.api.Socket(), err)
	}
	return fmt.Errorf("tailscaled at %s: %w", t.api.Socket(), err)
}
