package cmd

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/relayctl/relayctl/internal/derpmap"
	"github.com/relayctl/relayctl/internal/render"
)

type derpmapPinOptions struct {
	Inventory string
	Check     bool
	Timeout   time.Duration

	streams IOStreams
}

func newDERPMapPinCmd(streams IOStreams) *cobra.Command {
	o := &derpmapPinOptions{streams: streams}
	c := &cobra.Command{
		Use:   "pin INVENTORY [--check]",
		Short: "Fill in (or check) the sha256-raw pins of the inventory from the live relays",
		Long: `Connect to the DERP port of every node whose certificate is pinned (cert: pin,
sha256-raw:… or file:…), read the certificate it serves and compare it with the
inventory. Without --check, 'cert: pin' placeholders and stale sha256-raw pins are
rewritten in the inventory file in place (only those values change; comments and
layout stay); file: pins are checked, never rewritten. With --check nothing is
written and every node whose live certificate does not match its pin is
reported: the failure after a certificate was replaced (certgen --force) but the
DERP map was not. Public-CA nodes are skipped. Exit 1 when a node could not be
read or does not match.`,
		Example: `  relayctl derpmap pin fleet.yaml            # fill in the pins, review with git diff
  relayctl derpmap pin fleet.yaml --check    # in cron or CI: does every relay still match?`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Inventory = args[0]
			if o.Timeout <= 0 {
				return usageErrorf("--timeout %v: want a positive duration", o.Timeout)
			}
			return runDERPMapPin(cmd.Context(), o)
		},
	}
	c.Flags().BoolVar(&o.Check, "check", false, "only check the live certificates against the pins; write nothing")
	c.Flags().DurationVar(&o.Timeout, "timeout", 10*time.Second, "give up on a node after this long")
	return c
}

// pinOutcome is one node's result.
type pinOutcome struct {
	node   derpmap.NodeSource
	addr   string
	live   string // the live pin; "" when unknown
	status string // ok, pinned, updated, mismatch, not-pinned, error
	detail string
}

func (p pinOutcome) failed() bool {
	return p.status == "mismatch" || p.status == "error" || p.status == "not-pinned"
}

func runDERPMapPin(ctx context.Context, o *derpmapPinOptions) error {
	inv, err := readInventory(o.streams, o.Inventory)
	if err != nil {
		return err
	}
	var todo []int
	for i, n := range inv.Nodes {
		if n.NeedsLiveCert() && !n.Node.STUNOnly {
			todo = append(todo, i)
		}
	}
	if len(todo) == 0 {
		fmt.Fprintf(o.streams.ErrOut, "%s: no pinned nodes (every node trusts a public CA)\n", o.Inventory)
		return nil
	}
	outcomes := readLivePins(ctx, inv, todo, o.Timeout)
	pins := map[int]string{}
	for k, i := range todo {
		judgePin(&outcomes[k], o.Check)
		if outcomes[k].status == "pinned" || outcomes[k].status == "updated" {
			pins[i] = outcomes[k].live
		}
	}
	writePinTable(o.streams.Out, outcomes)
	if len(pins) > 0 {
		out, err := inv.WithPins(pins)
		if err != nil {
			return err
		}
		if err := replaceFile(o.Inventory, out); err != nil {
			return err
		}
		fmt.Fprintf(o.streams.ErrOut, "wrote %d pin(s) to %s; clients need the new map: relayctl derpmap apply %s --policy-file …\n", len(pins), o.Inventory, o.Inventory)
	}
	var failed []string
	for _, oc := range outcomes {
		if oc.failed() {
			failed = append(failed, oc.node.Node.Name)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d node(s) not matching or not reachable: %s", len(failed), strings.Join(failed, ", "))
	}
	return nil
}

// readLivePins reads the certificates of the chosen nodes, a few at a
// time.
func readLivePins(ctx context.Context, inv *derpmap.Inventory, todo []int, timeout time.Duration) []pinOutcome {
	out := make([]pinOutcome, len(todo))
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for k, i := range todo {
		out[k].node = inv.Nodes[i]
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			lc, err := derpmap.FetchLiveCert(ctx, inv.Nodes[i].Node)
			out[k].addr = lc.Addr
			switch {
			case err != nil:
				out[k].status, out[k].detail = "error", err.Error()
			case len(lc.Chain) != 1:
				out[k].status = "error"
				out[k].detail = fmt.Sprintf("presents %d certificates; clients accept a pinned node only with exactly one", len(lc.Chain))
			default:
				out[k].live = lc.Pin()
			}
		})
	}
	wg.Wait()
	return out
}

// judgePin sets the status of a node whose live pin was read.
func judgePin(oc *pinOutcome, check bool) {
	if oc.status == "error" {
		return
	}
	n := oc.node
	want := n.Node.CertName
	switch {
	case n.Trust == derpmap.TrustPending && check:
		oc.status, oc.detail = "not-pinned", "cert: pin not filled in; live "+oc.live
	case n.Trust == derpmap.TrustPending:
		oc.status, oc.detail = "pinned", oc.live
	case want == oc.live:
		oc.status, oc.detail = "ok", oc.live
	case n.Trust == derpmap.TrustFile:
		oc.status, oc.detail = "mismatch", fmt.Sprintf("serves %s, %s holds %s", oc.live, n.CertFile, want)
	case check:
		oc.status, oc.detail = "mismatch", fmt.Sprintf("serves %s, pinned %s: clients refuse this relay", oc.live, want)
	default:
		oc.status, oc.detail = "updated", fmt.Sprintf("%s (was %s)", oc.live, want)
	}
}

func writePinTable(w io.Writer, outcomes []pinOutcome) {
	t := render.Table{Headers: []string{"NODE", "ADDRESS", "STATUS", "DETAIL"}}
	for _, oc := range outcomes {
		tone := render.Good
		switch {
		case oc.failed():
			tone = render.Bad
		case oc.status == "updated" || oc.status == "pinned":
			tone = render.Warn
		}
		t.Rows = append(t.Rows, []render.Cell{{Text: oc.node.Node.Name}, {Text: oc.addr}, {Text: oc.status, Tone: tone}, {Text: oc.detail}})
	}
	io.WriteString(w, render.ModeFor(w).Render(t))
}
