package cmd

import (
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/relayctl/relayctl/internal/certs"
	"github.com/relayctl/relayctl/internal/derpmap"
	"github.com/relayctl/relayctl/internal/statedir"
	"github.com/relayctl/relayctl/relay/node"
)

// certgenOptions are the inputs of one self-signed certificate and its
// DERP map.
type certgenOptions struct {
	IP         string
	Hostname   string
	CertDir    string
	RegionID   int
	RegionCode string
	NodeName   string
	DERPPort   int
	STUNPort   int
	Days       int
	Force      bool
	Inventory  bool

	ip      netip.Addr
	streams IOStreams
}

func newCertgenCmd(streams IOStreams) *cobra.Command {
	o := &certgenOptions{streams: streams}
	c := &cobra.Command{
		Use:   "certgen --ip IP [--hostname NAME]",
		Short: "Make a self-signed certificate for a relay and the DERP map that pins it",
		Long: `Write a self-signed certificate (ECDSA P-256, valid for --ip and, when given,
--hostname) and its key to <certdir>/<host>.crt and <certdir>/<host>.key, the files
'relayctl serve --certmode manual' (and derper --certmode manual) read; <host> is
--hostname, or the IP. Print to stdout a DERP map with one region and one node
whose CertName pins the certificate ("sha256-raw:" + SHA-256 of its DER), so
Tailscale clients trust the relay without a public CA; with --inventory, the same
region and node as an inventory fragment to merge into the fleet's inventory
('relayctl derpmap').

Existing files are kept unless --force is given. Replacing the certificate
changes the pin: every client needs the new DERP map.`,
		Example: `  # a relay on a bare IP
  relayctl certgen --ip 203.0.113.7 > derpmap.json
  relayctl serve --certmode manual --hostname 203.0.113.7

  # a relay with a DNS name but no public CA
  relayctl certgen --ip 203.0.113.7 --hostname derp.example.net --region-code home

  # the node's entry for the fleet inventory (relayctl derpmap)
  relayctl certgen --ip 203.0.113.7 --region-code fra --node-name fra1 --inventory`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.complete(cmd); err != nil {
				return err
			}
			return runCertgen(o)
		},
	}
	f := c.Flags()
	f.StringVar(&o.IP, "ip", "", "the relay's public IP address (required)")
	f.StringVar(&o.Hostname, "hostname", "", "the relay's DNS name, added to the certificate and used as the node's HostName")
	f.StringVar(&o.CertDir, "certdir", "", "where to write the certificate and key (default <state>/certs)")
	f.IntVar(&o.RegionID, "region-id", derpmap.DefaultRegionID, "region ID in the DERP map (900-999 are reserved for self-hosted relays)")
	f.StringVar(&o.RegionCode, "region-code", "custom", "short region code in the DERP map")
	f.StringVar(&o.NodeName, "node-name", "", "node name in the DERP map, unique across the map (default <region-id>a)")
	f.IntVar(&o.DERPPort, "derp-port", 443, "the relay's DERP (HTTPS) port")
	f.IntVar(&o.STUNPort, "stun-port", 3478, "the relay's STUN port; -1 for none")
	f.IntVar(&o.Days, "days", int(certs.DefaultValidity/(24*time.Hour)), "days the certificate is valid")
	f.BoolVar(&o.Force, "force", false, "replace an existing certificate and key")
	f.BoolVar(&o.Inventory, "inventory", false, "print the node as an inventory fragment (YAML) for 'relayctl derpmap' instead of DERP map JSON")
	return c
}

func (o *certgenOptions) complete(cmd *cobra.Command) error {
	if o.IP == "" {
		return usageErrorf("--ip is required: the relay's public IP address")
	}
	ip, err := netip.ParseAddr(o.IP)
	if err != nil || ip.Zone() != "" {
		return usageErrorf("--ip %q: not an IP address", o.IP)
	}
	o.ip = ip.Unmap()
	if why := node.UnservableIP(o.ip); why != "" {
		return usageErrorf("--ip %s: %s; give the address clients reach the relay on", o.ip, why)
	}
	if o.Hostname != "" {
		o.Hostname = strings.ToLower(strings.TrimSuffix(o.Hostname, "."))
		if hip, err := netip.ParseAddr(o.Hostname); err == nil {
			if hip.Unmap() != o.ip {
				return usageErrorf("--hostname %s is an IP address other than --ip %s; give the name, or leave --hostname out", o.Hostname, o.ip)
			}
			o.Hostname = "" // the same IP: nothing to add
		} else if !validDNSName(o.Hostname) {
			return usageErrorf("--hostname %q: not a DNS name", o.Hostname)
		}
	}
	if o.CertDir == "" {
		dir, err := statedir.State()
		if err != nil {
			return usageErrorf("--certdir: no state directory to default to (%v); give --certdir", err)
		}
		o.CertDir = filepath.Join(dir, "certs")
	}
	if o.RegionID <= 0 || o.RegionID > derpmap.MaxRegionID {
		return usageErrorf("--region-id %d: want a positive region ID (900-999 for self-hosted relays)", o.RegionID)
	}
	if o.DERPPort < 1 || o.DERPPort > 65535 {
		return usageErrorf("--derp-port %d: want 1 to 65535", o.DERPPort)
	}
	if o.STUNPort < -1 || o.STUNPort == 0 || o.STUNPort > 65535 {
		return usageErrorf("--stun-port %d: want 1 to 65535, or -1 for none", o.STUNPort)
	}
	if o.Days < 1 {
		return usageErrorf("--days %d: want at least 1", o.Days)
	}
	return nil
}

// validDNSName accepts what may go into a certificate's DNS SAN and a DERP
// node's HostName: dot-separated labels of letters, digits and hyphens.
func validDNSName(s string) bool {
	if len(s) == 0 || len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := range len(label) {
			c := label[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

func runCertgen(o *certgenOptions) error {
	host := o.ip.String()
	if o.Hostname != "" {
		host = o.Hostname
	}
	validFor := time.Duration(o.Days) * 24 * time.Hour
	certPEM, keyPEM, err := certs.SelfSigned(o.ip, o.Hostname, validFor)
	if err != nil {
		return err
	}
	certFile, keyFile := certs.Paths(o.CertDir, host)
	if err := certs.WritePair(certFile, keyFile, certPEM, keyPEM, o.Force); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%w; pass --force to replace it (the pin changes, so clients need the new DERP map)", err)
		}
		return err
	}
	block, _ := pem.Decode(certPEM)
	certName := certs.CertName(block.Bytes)
	node := derpmap.SingleNode{
		RegionID:   o.RegionID,
		RegionCode: o.RegionCode,
		NodeName:   o.NodeName,
		HostName:   host,
		IP:         o.ip,
		CertName:   certName,
		DERPPort:   o.DERPPort,
		STUNPort:   o.STUNPort,
	}
	dm := node.Map()
	render := derpmap.Render
	if o.Inventory {
		render = derpmap.RenderInventory
	}
	out, err := render(dm)
	if err != nil {
		return err
	}
	if _, err := o.streams.Out.Write(out); err != nil {
		return err
	}
	notAfter := time.Now().Add(validFor).UTC().Format(time.DateOnly)
	fmt.Fprintf(o.streams.ErrOut, `Wrote %s and %s (ECDSA P-256, self-signed, valid until %s).
Pin: %s
Serve it with:  %s
Clients trust this relay only through the DERP map printed above: put it in your
tailnet policy's "derpMap" (or Headscale's derp map). Renew before %s; the new
certificate has a new pin.
`, certFile, keyFile, notAfter, certName, o.serveCommand(node.Node()), notAfter)
	return nil
}

// serveCommand is the serve command whose printed DERP map has node n:
// the same host, certificate directory, region, node name and ports.
func (o *certgenOptions) serveCommand(n *derpmap.DERPNode) string {
	args := []string{"relayctl", "serve", "--certmode", "manual", "--hostname", n.HostName, "--certdir", o.CertDir,
		"--region-id", strconv.Itoa(n.RegionID), "--node-name", n.Name}
	if o.DERPPort != 443 {
		args = append(args, "--addr", ":"+strconv.Itoa(o.DERPPort))
	}
	switch o.STUNPort {
	case -1:
		args = append(args, "--stun=false")
	case 3478:
	default:
		args = append(args, "--stun-port", strconv.Itoa(o.STUNPort))
	}
	for i, a := range args {
		args[i] = shellQuote(a)
	}
	return strings.Join(args, " ")
}

// shellQuote quotes a for a POSIX shell when it needs it.
func shellQuote(a string) string {
	if a != "" && strings.Trim(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.,:/=@+") == "" {
		return a
	}
	return "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
}
