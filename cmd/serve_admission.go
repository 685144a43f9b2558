package cmd

import (
	"context"
	"log/slog"

	"github.com/spf13/pflag"

	"github.com/relayctl/relayctl/relay/server"
)

// admissionOptions are serve's client admission flags.
type admissionOptions struct{}

func (a *admissionOptions) addFlags(f *pflag.FlagSet) {}

func (a *admissionOptions) validate() error { return nil }

// admitFunc returns the server's admission hook; nil admits everyone.
func (a *admissionOptions) admitFunc(ctx context.Context, logger *slog.Logger) (func(context.Context, server.AdmitRequest) error, error) {
	return nil, nil
}
