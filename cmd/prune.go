package cmd

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/relayctl/relayctl/internal/certs"
	"github.com/relayctl/relayctl/internal/derpmap"
	"github.com/relayctl/relayctl/internal/render"
	"github.com/relayctl/relayctl/relay/admin"
	"github.com/relayctl/relayctl/relay/client"
	"github.com/relayctl/relayctl/relay/key"
	"github.com/relayctl/relayctl/relay/node"
	"github.com/spf13/cobra"
)

type pruneOptions struct {
	Server      string
	MeshPSKFile string
	Peers       []string
	NotIdeal    bool
	All         bool
	List        bool
	DryRun      bool
	JSON        bool
	CertName    string
	Timeout     time.Duration
	AllowHTTP   bool

	peerKeys []key.NodePublic
	streams  IOStreams
}

func newPruneCmd(streams IOStreams, runF func(*pruneOptions) error) *cobra.Command {
	o := &pruneOptions{streams: streams}
	c := &cobra.Command{
		Use:   "prune --server URL --mesh-psk-file F (--peer nodekey:… | --not-ideal | --all)",
		Short: "List a relay's peers and force-close chosen ones so they reconnect to their home node",
		Long: `Connect to a relay as a mesh (privileged) client, list its connected peers, and
close the chosen ones with the DERP ClosePeer frame. Tailscale clients reconnect at
once, trying their region's first node first, which rebalances a region after a
node came back. Mesh connections of other nodes are never chosen by --all or
--not-ideal.`,
		Example: `  # who is connected, and who would rather be on another node
  relayctl prune --server https://derp2.example.com --mesh-psk-file mesh.key --list

  # send the not-ideal clients home
  relayctl prune --server https://derp2.example.com --mesh-psk-file mesh.key --not-ideal

  # one client, seeing first what would happen
  relayctl prune --server http://10.0.0.2:3340 --allow-plain-http --mesh-psk-file mesh.key --peer nodekey:… --dry-run`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.complete(); err != nil {
				return err
			}
			if runF != nil {
				return runF(o)
			}
			return runPrune(cmd.Context(), o)
		},
	}
	f := c.Flags()
	f.StringVar(&o.Server, "server", "", "the relay: https://host[:port], http://host:port or the full …/derp URL")
	f.StringVar(&o.MeshPSKFile, "mesh-psk-file", "", "file holding the region's mesh key")
	f.StringSliceVar(&o.Peers, "peer", nil, "close this peer (nodekey:…); repeatable")
	f.BoolVar(&o.NotIdeal, "not-ideal", false, "close peers that told the relay they would rather be on another node")
	f.BoolVar(&o.All, "all", false, "close every peer except other nodes' mesh connections")
	f.BoolVar(&o.List, "list", false, "only list the peers")
	f.BoolVar(&o.DryRun, "dry-run", false, "show what would be closed, close nothing")
	f.BoolVar(&o.JSON, "json", false, "print one JSON document")
	f.StringVar(&o.CertName, "cert-name", "", "trust a self-signed relay by its DERP map CertName (sha256-raw:…)")
	f.DurationVar(&o.Timeout, "timeout", 15*time.Second, "give up after this long")
	f.BoolVar(&o.AllowHTTP, "allow-plain-http", false, "allow an http:// --server beyond this host: the mesh key is then sealed to whatever key the far end presents, which a man in the middle can replace (http:// to localhost needs no flag)")
	return c
}

func (o *pruneOptions) complete() error {
	if o.Server == "" {
		return usageErrorf("--server is required")
	}
	u, err := url.Parse(o.Server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return usageErrorf("--server %q: want https://host[:port], http://host:port or a …/derp URL", o.Server)
	}
	if u.Scheme == "http" && !o.AllowHTTP && !isLoopbackName(u.Hostname()) {
		return usageErrorf("--server %s: plain http beyond this host would let a man in the middle read the mesh key; use https:// (or --allow-plain-http on a network you trust)", o.Server)
	}
	if o.MeshPSKFile == "" {
		return usageErrorf("--mesh-psk-file is required: prune is a privileged (mesh) operation")
	}
	chosen := 0
	for _, set := range []bool{len(o.Peers) > 0, o.NotIdeal, o.All} {
		if set {
			chosen++
		}
	}
	if chosen > 1 {
		return usageErrorf("choose one of --peer, --not-ideal and --all")
	}
	if chosen == 0 && !o.List {
		return usageErrorf("choose the peers to close: --peer nodekey:…, --not-ideal or --all (or --list to only list)")
	}
	if strings.HasPrefix(o.CertName, certs.PinPrefix) && !certs.ValidPin(o.CertName) {
		return usageErrorf("--cert-name %q: a sha256-raw pin is 64 lowercase hex digits, as in the DERP map", o.CertName)
	}
	for _, p := range o.Peers {
		k, err := key.ParseNodePublic(strings.TrimSpace(p))
		if err != nil {
			return usageErrorf("--peer %q: %v", p, err)
		}
		o.peerKeys = append(o.peerKeys, k)
	}
	return nil
}

// pruneReport is what prune prints.
type pruneReport struct {
	Server string       `json:"server"`
	Peers  []prunedPeer `json:"peers"`
	// Missing are --peer keys the relay does not have.
	Missing []string `json:"missing,omitempty"`
}

type prunedPeer struct {
	admin.Peer
	Flags  []string `json:"flags"`
	Action string   `json:"action"` // "keep", "close", "closed", "would-close", "not-confirmed"
}

func runPrune(ctx context.Context, o *pruneOptions) error {
	meshKey, err := node.ReadMeshKey(o.MeshPSKFile)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	c, err := dialPrune(ctx, o, meshKey)
	if err != nil {
		return err
	}
	defer c.Close()
	sess, err := admin.Watch(c)
	if err != nil {
		return err
	}
	defer sess.Stop()
	peers, err := sess.List(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", o.Server, err)
	}
	report, targets := planPrune(o, peers)
	switch {
	case o.DryRun:
		setAction(&report, "close", "would-close")
	case o.List: // only lists, even with peers chosen
		setAction(&report, "close", "keep")
	case len(targets) > 0:
		closed, err := sess.Close(ctx, targets)
		if err != nil {
			return fmt.Errorf("%s: %w", o.Server, err)
		}
		for i, p := range report.Peers {
			switch {
			case p.Action != "close":
			case closed[p.Key]:
				report.Peers[i].Action = "closed"
			default:
				report.Peers[i].Action = "not-confirmed"
			}
		}
	}
	if err := renderPrune(o, report); err != nil {
		return err
	}
	return report.err()
}

// dialPrune connects to --server as a mesh-privileged client.
func dialPrune(ctx context.Context, o *pruneOptions, meshKey key.MeshKey) (*client.Client, error) {
	copts := client.Options{MeshKey: meshKey}
	if o.CertName != "" {
		copts.TLSConfig = pinnedTLSConfig(o.Server, o.CertName)
	}
	c, err := client.Dial(ctx, o.Server, key.NewNode(), copts)
	if err != nil {
		var unknownCA x509.UnknownAuthorityError
		if o.CertName == "" && errors.As(err, &unknownCA) {
			return nil, fmt.Errorf("connect to %s: %w (a self-signed relay: pass --cert-name with the CertName its DERP map node has, sha256-raw:…, as relayctl certgen and serve --certmode manual print it)", o.Server, err)
		}
		return nil, fmt.Errorf("connect to %s: %w", o.Server, err)
	}
	return c, nil
}

// planPrune marks the peers --peer, --all or --not-ideal choose ("close")
// and lists the --peer keys the relay does not have. Other nodes' mesh
// connections are never chosen by --all or --not-ideal.
func planPrune(o *pruneOptions, peers []admin.Peer) (report pruneReport, targets []key.NodePublic) {
	report.Server = o.Server
	wanted := map[key.NodePublic]bool{}
	for _, k := range o.peerKeys {
		wanted[k] = true
	}
	for _, p := range peers {
		chosen := wanted[p.Key] ||
			(o.All && !p.MeshPeer()) ||
			(o.NotIdeal && p.NotIdeal() && !p.MeshPeer())
		action := "keep"
		if chosen {
			action = "close"
			targets = append(targets, p.Key)
			delete(wanted, p.Key)
		}
		report.Peers = append(report.Peers, prunedPeer{Peer: p, Flags: p.FlagNames(), Action: action})
	}
	for k := range wanted {
		report.Missing = append(report.Missing, k.String())
	}
	return report, targets
}

// err is prune's outcome: a --peer the relay does not have, or a close
// the relay did not confirm, fails the command.
func (r pruneReport) err() error {
	if len(r.Missing) > 0 {
		return fmt.Errorf("not connected to %s: %s", r.Server, strings.Join(r.Missing, ", "))
	}
	for _, p := range r.Peers {
		if p.Action == "not-confirmed" {
			return errors.New("the relay did not confirm every close; run again with --list")
		}
	}
	return nil
}

func setAction(r *pruneReport, from, to string) {
	for i := range r.Peers {
		if r.Peers[i].Action == from {
			r.Peers[i].Action = to
		}
	}
}

func renderPrune(o *pruneOptions, r pruneReport) error {
	if o.JSON {
		enc := json.NewEncoder(o.streams.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	return writePruneTable(o.streams.Out, r)
}

func writePruneTable(w io.Writer, r pruneReport) error {
	t := render.Table{Title: "peers of " + r.Server, Headers: []string{"PEER", "ADDRESS", "FLAGS", "ACTION"}}
	for _, p := range r.Peers {
		addr := "-"
		if p.Addr.IsValid() {
			addr = p.Addr.String()
		}
		tone := render.Normal
		switch p.Action {
		case "closed", "would-close", "close":
			tone = render.Warn
		case "not-confirmed":
			tone = render.Bad
		}
		t.Rows = append(t.Rows, []render.Cell{{Text: p.Key.String()}, {Text: addr}, {Text: strings.Join(p.Flags, ","), Tone: render.Faint}, {Text: p.Action, Tone: tone}})
	}
	if len(r.Peers) == 0 {
		t.Rows = append(t.Rows, []render.Cell{{Text: "(no peers)", Tone: render.Faint}, {}, {}, {}})
	}
	_, err := io.WriteString(w, render.ModeFor(w).Render(t))
	return err
}

// pinnedTLSConfig checks the relay's certificate as a Tailscale client
// does for a DERP map node with this CertName (a sha256-raw pin, or the
// name to verify the chain for).
func pinnedTLSConfig(server, certName string) *tls.Config {
	host := server
	if u, err := url.Parse(server); err == nil {
		host = u.Hostname()
	}
	return client.NodeTLSConfig(&derpmap.DERPNode{HostName: host, CertName: certName}, nil, nil)
}

// isLoopbackName reports whether host is localhost or a loopback IP.
func isLoopbackName(host string) bool {
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}
