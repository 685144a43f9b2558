// Package admission decides which DERP clients a relay serves: a chain of
// checks (the local tailscaled, an admission webhook) asked in order about
// each connecting node key. Mesh-key clients never reach it: the relay
// server lets them in before asking.
package admission

import (
	"context"
	"net/netip"

	"github.com/relayctl/relayctl/relay/key"
)

// Request is a client asking to connect.
type Request struct {
	Key    key.NodePublic
	Source netip.Addr // the client's IP; invalid when unknown
}

// Result is a check's verdict; the values are the result label of the
// relayctl_admission_decisions metric.
type Result string

const (
	// Allow admits the client as far as this check is concerned.
	Allow Result = "allow"
	// Deny is a definite no: the key is unknown, or the webhook said so.
	Deny Result = "deny"
	// Error rejects because the answer could not be trusted: a bad reply,
	// a tailscaled that is too old, a permission problem.
	Error Result = "error"
	// Unreachable rejects because the backend could not be asked at all.
	Unreachable Result = "unreachable"
	// Overloaded rejects because the backend is busy: every call slot
	// taken, or no answer in time. Never fail-open, since a flood of
	// clients can cause it.
	Overloaded Result = "overloaded"
	// FailOpen admits although the backend is confirmed down (refused,
	// unresolvable), because the operator chose so
	// (--verify-client-url-fail-open).
	FailOpen Result = "fail_open"
)

// Decision is one check's answer about one request.
type Decision struct {
	Result Result
	// Reason says why the client was not simply allowed: the rejection
	// reason, or for FailOpen the transport error that was forgiven.
	Reason error
	// Cached is set when the answer came from the cache, not the backend.
	Cached bool
}

// Admits reports whether the decision lets the client in.
func (d Decision) Admits() bool { return d.Result == Allow || d.Result == FailOpen }

// Check is one link of the chain.
type Check interface {
	// Name labels the check in metrics and logs ("tailscaled", "webhook").
	Name() string
	// Check decides about r. It must return within a bounded time even
	// when ctx has no deadline.
	Check(ctx context.Context, r Request) Decision
}

func allow() Decision { return Decision{Result: Allow} }

func reject(r Result, err error) Decision { return Decision{Result: r, Reason: err} }
