package cmd

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/relayctl/relayctl/config"
	"github.com/relayctl/relayctl/relay/node"
)

// serveFlags are serve's command line: every node setting, bound by
// node.BindFlags, and the flags that choose the setting sources. The
// values a node runs with are resolved from all sources (node.Resolve);
// the flags are only the command line's part.
type serveFlags struct {
	cfg        node.Config
	ConfigFile string
	Policies   []string
	streams    IOStreams
}

func newServeCmd(streams IOStreams, runF func(*node.Node) error) *cobra.Command {
	f := &serveFlags{streams: streams}
	c := &cobra.Command{
		Use:   "serve",
		Short: "Run a DERP relay node (DERP over HTTP(S) and WebSocket, STUN, metrics)",
		Long: `Run one DERP relay node: DERP over an HTTP upgrade or WebSocket on --addr, STUN on
UDP --stun-port, the HTTP endpoints Tailscale clients use, and loopback-only /debug/
pages with Prometheus metrics.

Every flag can also be set in the config file (same name as key), in the
environment as RELAYCTL_<FLAG> (upper case, dashes as underscores), or by fleet
policy (--policy). Precedence, highest first: fleet policy (enforced) > flags >
environment > config file > defaults. 'relayctl config show' prints the result.
A running relay re-reads the file and policy on change or SIGHUP: log-level and the
per-client rate limit apply at once, the access policy too; other settings are
reported as pending until a restart.`,
		Example: `  # try it locally: plain HTTP on 127.0.0.1:3340, STUN on 127.0.0.1:3478
  relayctl serve --dev

  # behind a TLS terminator on the same host
  relayctl serve --certmode none --addr 127.0.0.1:8080 --hostname derp.example.com`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			n, err := f.newNode(cmd.Flags())
			if err != nil {
				return err
			}
			if runF != nil {
				return runF(n)
			}
			return runNode(cmd.Context(), n)
		},
	}
	f.addFlags(c.Flags())
	return c
}

// addFlags registers serve's settings on fs. config show and validate take
// the same flags.
func (f *serveFlags) addFlags(fs *pflag.FlagSet) {
	node.BindFlags(fs, &f.cfg)
	fs.StringVar(&f.ConfigFile, config.FileFlag, "", "config file (YAML, TOML or JSON; default <config>/relayctl.yaml)")
	fs.StringSliceVar(&f.Policies, config.PolicyFlag, nil, "fleet policy sources: a directory of policy files, a file, or an https:// URL (repeatable; default "+config.DefaultPolicyDir+" when it exists)")
}

// newNode resolves the settings from every source and checks them.
func (f *serveFlags) newNode(cmdFlags *pflag.FlagSet) (*node.Node, error) {
	cfg, opts, err := f.resolve(cmdFlags)
	if err != nil {
		return nil, err
	}
	return node.New(cfg, opts)
}

// resolve merges config file, environment, command line and fleet policy
// into the node's settings.
func (f *serveFlags) resolve(cmdFlags *pflag.FlagSet) (node.Config, node.Options, error) {
	src, fetcher := f.sources(cmdFlags)
	cfg, res, err := node.Resolve(src)
	if err != nil {
		return node.Config{}, node.Options{}, err
	}
	return cfg, node.Options{
		Resolved:      res,
		Sources:       &src,
		PolicyFetcher: fetcher,
		Stderr:        f.streams.ErrOut,
		Version:       readBuildVersion().String(),
	}, nil
}

// runNode runs n until SIGINT or SIGTERM (or ctx ends); SIGHUP re-reads
// the configuration.
func runNode(ctx context.Context, n *node.Node) error {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				n.Reload()
			}
		}
	}()
	return n.Run(ctx)
}
