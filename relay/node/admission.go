package node

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/relayctl/relayctl/config"
	"github.com/relayctl/relayctl/internal/logging"
	"github.com/relayctl/relayctl/internal/metrics"
	"github.com/relayctl/relayctl/relay/admission"
	"github.com/relayctl/relayctl/relay/server"
)

// admitter is a running node's client admission: the chain of checks in
// force, swapped when the webhook settings change while the node runs.
// The settings themselves are Config's.
type admitter struct {
	chain      atomic.Pointer[admission.Chain]
	tailscaled admission.Check // nil without --verify-clients
	logger     *slog.Logger
	reg        *metrics.Registry
}

// startupProbeTimeout bounds the check that tailscaled answers.
const startupProbeTimeout = 10 * time.Second

// newAdmitter sets up admission for c. With --verify-clients it first
// checks that tailscaled answers, and refuses to start (a *ConfigError)
// when it does not.
func newAdmitter(ctx context.Context, c *Config, logger *slog.Logger, reg *metrics.Registry) (*admitter, error) {
	a := &admitter{logger: logger, reg: reg}
	if c.VerifyClients {
		ts := admission.NewTailscaled(admission.NewLocalAPI(c.Socket), logger)
		if err := probeTailscaled(ctx, c, ts, logger); err != nil {
			return nil, err
		}
		a.tailscaled = admission.Cached(ts, admission.CacheOptions{})
	}
	a.setWebhook(c.VerifyClientURL, c.VerifyClientURLFailOpen)
	return a, nil
}

// admit is the server's admission hook. It is installed even with no
// checks, so that a webhook added to the configuration later applies
// without a restart.
func (a *admitter) admit(ctx context.Context, r server.AdmitRequest) error {
	chain := a.chain.Load()
	if chain == nil {
		return nil
	}
	return chain.Admit(ctx, admission.Request{Key: r.Key, Source: r.Source})
}

// setWebhook puts the checks for these webhook settings in force, after
// tailscaled's when --verify-clients is on.
func (a *admitter) setWebhook(url string, failOpen bool) {
	var checks []admission.Check
	if a.tailscaled != nil {
		checks = append(checks, a.tailscaled)
	}
	if url != "" {
		wh := admission.NewWebhook(url, admission.WebhookOptions{FailOpen: failOpen})
		checks = append(checks, admission.Cached(wh, admission.CacheOptions{KeyOf: admission.CacheKeyWithSource}))
		a.logger.Info("verifying clients with an admission webhook", "url", logging.RedactURL(url), "fail_open", failOpen)
	}
	if len(checks) == 0 {
		a.chain.Store(nil)
		return
	}
	a.chain.Store(admission.NewChain(a.logger, a.reg, checks...))
}

func probeTailscaled(ctx context.Context, c *Config, ts *admission.Tailscaled, logger *slog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, startupProbeTimeout)
	defer cancel()
	st, warning, err := ts.Probe(ctx)
	if err != nil {
		if !c.VerifyClientsAllowUnreachable {
			return configErrorf("--verify-clients: %v (or start anyway with --verify-clients-allow-unreachable)", err)
		}
		logger.Warn("tailscaled does not answer; starting anyway, rejecting clients until it does",
			"socket", c.Socket, "err", err)
		return nil
	}
	if warning != nil {
		logger.Warn("tailscaled answers but cannot admit anyone yet", "socket", c.Socket, "warning", warning)
		return nil
	}
	logger.Info("verifying clients with the local tailscaled", "socket", c.Socket,
		"tailscaled_version", st.Version, "tailscaled_key", st.Self.PublicKey.String())
	return nil
}

// warnSecretInArgv warns when the webhook URL, with a token or
// credentials in it, was given on the command line, where every local
// user can read it (ps, /proc/PID/cmdline).
func warnSecretInArgv(c *Config, src sources, logger *slog.Logger) {
	u := c.VerifyClientURL
	if u == "" || src.sourceOf(nameVerifyClientURL) != config.SourceFlag || logging.RedactURL(u) == u {
		return
	}
	logger.Warn("--verify-client-url holds credentials or a query on the command line, where any local user can read them; set it in the config file (mode 0600) or as "+config.EnvName(nameVerifyClientURL)+" instead",
		"url", logging.RedactURL(u))
}
