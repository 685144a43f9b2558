package derpmap

import (
	"errors"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Inventory is a fleet described in an inventory file (YAML): the DERP
// map it defines, plus where each node came from in the file and how its
// certificate is trusted, so that errors name a line and `derpmap pin`
// can rewrite one value in place.
//
// The file has two lists, regions and nodes; each node names its region
// by code or ID, and nodes keep their file order within a region (the
// first is the one clients dial first). docs/fleet.md documents the keys.
type Inventory struct {
	// Path names the file in messages; Dir resolves relative cert files.
	Path string
	Dir  string
	// Map is the DERP map, complete except the CertName of nodes whose
	// pin is still to be filled in (Trust TrustPending).
	Map *DERPMap
	// Nodes are the map's nodes in file order.
	Nodes []NodeSource
	// Warnings are legal but unusual choices (a region ID outside the
	// self-hosted range), each naming its line.
	Warnings []string

	src []byte
	doc *yaml.Node
}

// Trust says where a node's certificate trust comes from.
type Trust int

const (
	// TrustPublicCA verifies the chain against the system's CAs for
	// HostName (an empty CertName); the default.
	TrustPublicCA Trust = iota
	// TrustPin pins the leaf: CertName "sha256-raw:<hex>".
	TrustPin
	// TrustFile pins the leaf read from a certificate file.
	TrustFile
	// TrustPending is a pin still to be filled in by `derpmap pin`.
	TrustPending
)

// Values of the cert key.
const (
	certPublicCA   = "public-ca"
	certPending    = "pin"
	certFilePrefix = "file:"
)

// NodeSource is one node of an inventory and its place in the file.
type NodeSource struct {
	Node  *DERPNode
	Line  int
	Trust Trust
	// CertFile is the certificate file of a TrustFile node, resolved
	// against the inventory's directory.
	CertFile string

	certValue *yaml.Node // the cert value; nil when the key is absent
}

// NeedsLiveCert reports whether the node's trust is a pin, so `derpmap
// pin` reads its live certificate.
func (n NodeSource) NeedsLiveCert() bool { return n.Trust != TrustPublicCA }

// Problem is one fault in an inventory file, located by line.
type Problem struct {
	Line int
	Msg  string
}

// InventoryError lists every fault found in an inventory file.
type InventoryError struct {
	Path     string
	Problems []Problem
}

func (e *InventoryError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = e.at(p)
	}
	if len(parts) == 1 {
		return "invalid inventory " + parts[0]
	}
	return fmt.Sprintf("invalid inventory (%d problems): %s", len(parts), strings.Join(parts, "; "))
}

func (e *InventoryError) at(p Problem) string {
	if p.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.Path, p.Line, p.Msg)
	}
	return fmt.Sprintf("%s: %s", e.Path, p.Msg)
}

// ErrPendingPin is returned by DERPMap for an inventory whose pins are
// not all filled in.
var ErrPendingPin = errors.New("pin not filled in")

// DERPMap is the inventory's map, refusing one with a pin still to fill
// in: a node with an empty CertName would silently switch to public-CA
// trust.
func (inv *Inventory) DERPMap() (*DERPMap, error) {
	var pending []string
	for _, n := range inv.Nodes {
		if n.Trust == TrustPending {
			pending = append(pending, fmt.Sprintf("%s:%d: node %q", inv.Path, n.Line, n.Node.Name))
		}
	}
	if len(pending) > 0 {
		return nil, fmt.Errorf("%s (%w; run 'relayctl derpmap pin %s')", strings.Join(pending, ", "), ErrPendingPin, inv.Path)
	}
	return inv.Map, nil
}
