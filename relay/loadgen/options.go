package loadgen

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/relayctl/relayctl/relay/wire"
)

// The defaults of every run live in these constructors, once: a caller
// (relayctl bench's flags among them) starts from one and changes what it
// needs. A zero duration in a config means "off" (no warmup, no pings, no
// progress ticks, no timeout), never "the default".

// DefaultThroughputConfig is a 10 s closed-loop run of 8 pairs sending
// 1200-byte packets, 32 in flight each, after a 1 s warmup, with a round
// trip timed every 10 ms (and for 1 s before the load).
func DefaultThroughputConfig() ThroughputConfig {
	return ThroughputConfig{
		Pairs:            8,
		PacketSize:       1200,
		Window:           32,
		Duration:         10 * time.Second,
		Warmup:           time.Second,
		PingInterval:     10 * time.Millisecond,
		IdlePing:         time.Second,
		ConnectTimeout:   30 * time.Second,
		ProgressInterval: defaultProgressInterval,
	}
}

// DefaultIdleConfig connects 5000 clients, 16 at a time, and reads the
// server's memory 2 s after the last one connected.
func DefaultIdleConfig() IdleConfig {
	return IdleConfig{
		Clients:              5000,
		Parallel:             16,
		Settle:               2 * time.Second,
		ConnectTimeout:       30 * time.Second,
		ConnectTimePerClient: 10 * time.Millisecond,
		ProgressInterval:     defaultProgressInterval,
	}
}

// DefaultHandshakeConfig runs 16 workers for 10 s.
func DefaultHandshakeConfig() HandshakeConfig {
	return HandshakeConfig{
		Duration:         10 * time.Second,
		Parallel:         16,
		ProgressInterval: defaultProgressInterval,
	}
}

const defaultProgressInterval = 500 * time.Millisecond

// OptionError is a config value out of range. Field points at the field of
// the config that Validate was called on, so a caller that bound the field
// to a flag or a setting can name that instead of Name.
type OptionError struct {
	Field any    // *int, *string or *time.Duration into the config
	Name  string // the field's name in the config
	Value any
	Want  string
}

func (e *OptionError) Error() string { return fmt.Sprintf("%s %v: want %s", e.Name, e.Value, e.Want) }

// checks collects the OptionErrors of one config.
type checks []error

func (c *checks) check(ok bool, field any, name string, value any, want string) {
	if !ok {
		*c = append(*c, &OptionError{Field: field, Name: name, Value: value, Want: want})
	}
}

func (c *checks) atLeastOne(field *int, name string) {
	c.check(*field >= 1, field, name, *field, "at least 1")
}

// offOrPositive is a duration that may be off (0) or set.
func (c *checks) offOrPositive(field *time.Duration, name string) {
	c.check(*field >= 0, field, name, *field, "0 (off) or a positive duration")
}

func (c *checks) positive(field *time.Duration, name string) {
	c.check(*field > 0, field, name, *field, "a positive duration")
}

// target checks t, naming its fields after prefix ("Target", "Receivers").
func (c *checks) target(t *Target, prefix string) {
	if _, err := t.parse(); err != nil {
		*c = append(*c, &OptionError{Field: &t.URL, Name: prefix + "URL", Value: fmt.Sprintf("%q", t.URL), Want: "http://host[:port][/path] or https://…"})
	}
	c.check(t.ServerPID >= 0, &t.ServerPID, prefix+"ServerPID", t.ServerPID, "a process ID, or 0 for none")
}

func (c checks) err() error { return errors.Join(c...) }

// Validate reports every field out of range as an *OptionError.
func (t *Target) Validate() error {
	var v checks
	v.target(t, "")
	return v.err()
}

// Validate reports every field out of range as an *OptionError.
func (c *ThroughputConfig) Validate() error {
	var v checks
	v.target(&c.Target, "Target ")
	if c.Receivers != nil {
		v.target(c.Receivers, "Receivers ")
	}
	v.atLeastOne(&c.Pairs, "Pairs")
	v.check(c.PacketSize >= 1 && c.PacketSize <= wire.MaxPacketSize, &c.PacketSize, "PacketSize", c.PacketSize, fmt.Sprintf("1 to %d bytes", wire.MaxPacketSize))
	if !c.OpenLoop {
		v.atLeastOne(&c.Window, "Window")
	}
	v.check(c.StalledReceivers >= 0 && c.StalledReceivers <= c.Pairs/2, &c.StalledReceivers, "StalledReceivers", c.StalledReceivers, fmt.Sprintf("0 to half the pairs (%d)", c.Pairs/2))
	v.positive(&c.Duration, "Duration")
	v.offOrPositive(&c.Warmup, "Warmup")
	v.offOrPositive(&c.PingInterval, "PingInterval")
	v.offOrPositive(&c.IdlePing, "IdlePing")
	v.offOrPositive(&c.ConnectTimeout, "ConnectTimeout")
	v.offOrPositive(&c.ProgressInterval, "ProgressInterval")
	return v.err()
}

// Validate reports every field out of range as an *OptionError.
func (c *IdleConfig) Validate() error {
	var v checks
	v.target(&c.Target, "Target ")
	v.atLeastOne(&c.Clients, "Clients")
	v.atLeastOne(&c.Parallel, "Parallel")
	v.offOrPositive(&c.Settle, "Settle")
	v.offOrPositive(&c.ConnectTimeout, "ConnectTimeout")
	v.offOrPositive(&c.ConnectTimePerClient, "ConnectTimePerClient")
	v.offOrPositive(&c.ProgressInterval, "ProgressInterval")
	return v.err()
}

// Validate reports every field out of range as an *OptionError.
func (c *HandshakeConfig) Validate() error {
	var v checks
	v.target(&c.Target, "Target ")
	v.positive(&c.Duration, "Duration")
	v.atLeastOne(&c.Parallel, "Parallel")
	v.offOrPositive(&c.ProgressInterval, "ProgressInterval")
	return v.err()
}

// withTimeout bounds ctx by d, or leaves it unbounded when d is 0 (off).
func withTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d == 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}

// progressTicks ticks every interval; with interval 0 (progress off) it
// never ticks.
func progressTicks(interval time.Duration) (ticks <-chan time.Time, stop func()) {
	if interval == 0 {
		return nil, func() {}
	}
	t := time.NewTicker(interval)
	return t.C, t.Stop
}
