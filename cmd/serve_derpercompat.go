package cmd

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/crypto/acme"

	"github.com/relayctl/relayctl/internal/derperflags"
	"github.com/relayctl/relayctl/relay/acmecert"
	"github.com/relayctl/relayctl/relay/key"
	"github.com/relayctl/relayctl/relay/server"
	"github.com/relayctl/relayctl/relay/web"
)

// derperCompatOptions are the serve settings that answer derper flags
// relayctl had no counterpart for (see internal/derperflags).
type derperCompatOptions struct {
	DERP                         bool
	UnpublishedBootstrapDNSNames []string
	RateConfig                   string
	ACMEEABKID                   string
	ACMEEABKey                   string
}

func (d *derperCompatOptions) addFlags(f *pflag.FlagSet) {
	f.BoolVar(&d.DERP, "derp", true, "relay DERP; false serves only STUN, /bootstrap-dns and the probe endpoints (decommissioning a node)")
	f.StringSliceVar(&d.UnpublishedBootstrapDNSNames, "unpublished-bootstrap-dns-names", nil,
		"names /bootstrap-dns answers only when asked for by name; name/record answers the share of clients (0-100) in the DNS TXT record")
	f.StringVar(&d.RateConfig, "rate-config", "", "derper rate-config JSON file (PerClientRateLimitBytesPerSec, PerClientRateBurstBytes) setting the per-client rate limit; re-read on change and SIGHUP")
	f.StringVar(&d.ACMEEABKID, "acme-eab-kid", "", "ACME External Account Binding key ID (Google Trust Services, ZeroSSL)")
	f.StringVar(&d.ACMEEABKey, "acme-eab-key", "", "ACME External Account Binding HMAC key, base64 or base64url as the CA gives it")
}

func (d *derperCompatOptions) validate() error {
	if (d.ACMEEABKID == "") != (d.ACMEEABKey == "") {
		return usageErrorf("--acme-eab-kid and --acme-eab-key go together (the CA gives both)")
	}
	if _, err := d.eab(); err != nil {
		return err
	}
	return nil
}

// eab is the External Account Binding for the ACME account, nil without.
func (d *derperCompatOptions) eab() (*acme.ExternalAccountBinding, error) {
	if d.ACMEEABKID == "" {
		return nil, nil
	}
	eab, err := acmecert.ParseEAB(d.ACMEEABKID, d.ACMEEABKey)
	if err != nil {
		return nil, usageErrorf("--acme-eab-key: %v", err)
	}
	return eab, nil
}

// meshKeyFromEnv is derper's environment variable for the mesh key, which
// relayctl reads when no --mesh-psk-file is given (the file wins).
func meshKeyFromEnv() (key.MeshKey, bool, error) {
	v, ok := os.LookupEnv(derperflags.MeshKeyEnv)
	if !ok || v == "" {
		return key.MeshKey{}, false, nil
	}
	k, err := key.ParseMeshKey(v)
	if err != nil {
		return key.MeshKey{}, false, usageErrorf("%s: %v (make one with: relayctl keygen)", derperflags.MeshKeyEnv, err)
	}
	return k, true, nil
}

// loadMeshKeyOrEnv reads --mesh-psk-file, or else derper's environment
// variable; from says which one was used ("" for neither).
func loadMeshKeyOrEnv(path string) (k key.MeshKey, from string, err error) {
	if path != "" {
		k, err = loadMeshKey(path)
		return k, path, err
	}
	k, ok, err := meshKeyFromEnv()
	if err != nil || !ok {
		return key.MeshKey{}, "", err
	}
	return k, derperflags.MeshKeyEnv, nil
}

// hasMeshKeySource reports whether a mesh key is configured by either
// source, for the --mesh-with check.
func (o *serveOptions) hasMeshKeySource() bool {
	if o.MeshPSKFile != "" {
		return true
	}
	v, _ := os.LookupEnv(derperflags.MeshKeyEnv)
	return v != ""
}

// derpHandler is the /derp handler, or nil with --derp=false: the web
// handler then answers /derp with derper's 404 "derp server disabled".
func (o *serveOptions) derpHandler(ctx context.Context, relay *server.Server, logger *slog.Logger, trusted web.TrustedProxies) http.Handler {
	if !o.Derper.DERP {
		logger.Info("DERP disabled (--derp=false): serving STUN, /bootstrap-dns and the probe endpoints only")
		return nil
	}
	return web.NewDERPHandler(ctx, relay, web.DERPOptions{Logger: logger, TrustedProxies: trusted})
}

// acmeDirectoryTimeout bounds serve's start-up look at the ACME directory.
const acmeDirectoryTimeout = 5 * time.Second

// checkACMEBinding refuses to start when the ACME CA requires External
// Account Binding (Google Trust Services, ZeroSSL) and none is set: without
// it every certificate request would fail, and only when clients arrive.
// A CA that cannot be reached now is not an error: certificates are
// requested later anyway.
func (o *serveOptions) checkACMEBinding(ctx context.Context, logger *slog.Logger) error {
	if o.CertMode != "letsencrypt" || o.Derper.ACMEEABKID != "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, acmeDirectoryTimeout)
	defer cancel()
	required, err := acmecert.NewHost(o.Hostname, acmecert.Options{DirectoryURL: o.ACMEDirectoryURL}, nil).RequiresEAB(ctx)
	if err != nil {
		logger.Warn("cannot read the ACME directory to check for External Account Binding; the relay still asks the CA for a certificate, and logs each failed attempt", "err", err)
		return nil
	}
	if required {
		return usageErrorf("the ACME CA at %s requires External Account Binding: set --acme-eab-kid and --acme-eab-key (the CA's account page gives both)", o.ACMEDirectoryURL)
	}
	return nil
}
