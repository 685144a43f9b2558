package cmd

import (
	"context"
	"log/slog"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/spf13/pflag"

	"github.com/relayctl/relayctl/config"
	"github.com/relayctl/relayctl/internal/logging"
	"github.com/relayctl/relayctl/internal/metrics"
	"github.com/relayctl/relayctl/relay/admission"
	"github.com/relayctl/relayctl/relay/server"
)

// admissionOptions are serve's client admission flags.
type admissionOptions struct {
	VerifyClients           bool
	Socket                  string
	AllowUnreachable        bool
	VerifyClientURL         string
	VerifyClientURLFailOpen bool

	// Set by admitFunc: the chain in force, swapped when the webhook
	// settings change while the relay runs.
	chain      atomic.Pointer[admission.Chain]
	tailscaled admission.Check
	logger     *slog.Logger
	reg        *metrics.Registry
}

// startupProbeTimeout bounds serve's check that tailscaled answers.
const startupProbeTimeout = 10 * time.Second

func (a *admissionOptions) addFlags(f *pflag.FlagSet) {
	f.BoolVar(&a.VerifyClients, "verify-clients", false, "admit only node keys the local tailscaled knows (its own and its peers'), asked over --socket")
	f.StringVar(&a.Socket, "socket", admission.DefaultSocket(), "tailscaled's LocalAPI socket, for --verify-clients")
	f.BoolVar(&a.AllowUnreachable, "verify-clients-allow-unreachable", false, "with --verify-clients, start even when tailscaled does not answer yet (clients are rejected until it does)")
	f.StringVar(&a.VerifyClientURL, "verify-client-url", "", "admission webhook asked about each connecting client: an https:// URL (plain http only to localhost); never via HTTP(S)_PROXY. A URL with a token belongs in the config file or RELAYCTL_VERIFY_CLIENT_URL, not on the command line")
	f.BoolVar(&a.VerifyClientURLFailOpen, "verify-client-url-fail-open", true, "admit clients when the webhook is confirmed down (connection refused or its name does not resolve, 3 times in a row); a slow or busy webhook, a non-200 reply or bad JSON always rejects")
}

func (a *admissionOptions) validate() error {
	if a.VerifyClients && a.Socket == "" {
		return usageErrorf("--verify-clients needs --socket (tailscaled's socket, default %s)", admission.DefaultSocket())
	}
	if a.AllowUnreachable && !a.VerifyClients {
		return usageErrorf("--verify-clients-allow-unreachable only makes sense with --verify-clients")
	}
	if a.VerifyClientURL != "" {
		u, err := url.Parse(a.VerifyClientURL)
		if err != nil {
			return usageErrorf("--verify-client-url %s: not a URL", logging.RedactURL(a.VerifyClientURL))
		}
		if err := admission.CheckWebhookURL(u); err != nil {
			return usageErrorf("--verify-client-url %v", err)
		}
	}
	return nil
}

// admitFunc returns the server's admission hook; nil admits everyone. With
// --verify-clients it first checks that tailscaled answers, and refuses to
// start (a usage error, exit 2) when it does not.
func (a *admissionOptions) admitFunc(ctx context.Context, logger *slog.Logger, reg *metrics.Registry) (func(context.Context, server.AdmitRequest) error, error) {
	a.logger, a.reg = logger, reg
	if a.VerifyClients {
		ts := admission.NewTailscaled(admission.NewLocalAPI(a.Socket), logger)
		if err := a.probeTailscaled(ctx, ts, logger); err != nil {
			return nil, err
		}
		a.tailscaled = admission.Cached(ts, admission.CacheOptions{})
	}
	a.setWebhook(a.VerifyClientURL, a.VerifyClientURLFailOpen)
	// The hook is installed even with no checks, so that a webhook added
	// to the configuration later applies without a restart.
	return func(ctx context.Context, r server.AdmitRequest) error {
		chain := a.chain.Load()
		if chain == nil {
			return nil
		}
		return chain.Admit(ctx, admission.Request{Key: r.Key, Source: r.Source})
	}, nil
}

// setWebhook puts the checks for these webhook settings in force, after
// tailscaled's when --verify-clients is on.
func (a *admissionOptions) setWebhook(url string, failOpen bool) {
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

func (a *admissionOptions) probeTailscaled(ctx context.Context, ts *admission.Tailscaled, logger *slog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, startupProbeTimeout)
	defer cancel()
	st, warning, err := ts.Probe(ctx)
	if err != nil {
		if !a.AllowUnreachable {
			return usageErrorf("--verify-clients: %v (or start anyway with --verify-clients-allow-unreachable)", err)
		}
		logger.Warn("tailscaled does not answer; starting anyway, rejecting clients until it does",
			"socket", a.Socket, "err", err)
		return nil
	}
	if warning != nil {
		logger.Warn("tailscaled answers but cannot admit anyone yet", "socket", a.Socket, "warning", warning)
		return nil
	}
	logger.Info("verifying clients with the local tailscaled", "socket", a.Socket,
		"tailscaled_version", st.Version, "tailscaled_key", st.Self.PublicKey.String())
	return nil
}

// warnSecretInArgv warns when the webhook URL, with a token or
// credentials in it, was given on the command line, where every local
// user can read it (ps, /proc/PID/cmdline).
func (o *serveOptions) warnSecretInArgv(logger *slog.Logger) {
	u := o.Admission.VerifyClientURL
	if u == "" || o.sourceOf("verify-client-url") != config.SourceFlag || logging.RedactURL(u) == u {
		return
	}
	logger.Warn("--verify-client-url holds credentials or a query on the command line, where any local user can read them; set it in the config file (mode 0600) or as "+config.EnvName("verify-client-url")+" instead",
		"url", logging.RedactURL(u))
}
