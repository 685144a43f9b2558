// Package derpmap is relayctl's one model of a DERP map: Tailscale's types
// with the JSON field names Tailscale clients, Headscale and derpprobe
// read; reading every format relayctl accepts (Load, Parse, Decode) and
// validating it (Validate); what a client makes of a node (default ports,
// address families, URL); rendering (JSON, a policy file's derpMap,
// headscale's YAML); and the fleet inventory that builds, pins and diffs
// maps. So the maps relayctl prints and the maps it probes are the same
// documents, and every command reads them alike.
package derpmap

import (
	"encoding/json"
	"fmt"
)

// DERPMap is the set of relay regions a tailnet uses.
type DERPMap struct {
	// HomeParams scales region latencies when clients pick a home region.
	HomeParams *DERPHomeParams `json:",omitempty"`
	// Regions is keyed by region ID, which should equal the region's RegionID.
	Regions map[int]*DERPRegion
	// OmitDefaultRegions, in a tailnet policy, drops Tailscale's own regions.
	OmitDefaultRegions bool `json:"omitDefaultRegions,omitempty"`
}

// DERPHomeParams tune home-region selection.
type DERPHomeParams struct {
	// RegionScore multiplies a region's latency: below 1 favours it, above
	// 1 penalises it; values ≤ 0 are ignored.
	RegionScore map[int]float64 `json:",omitempty"`
}

// DERPRegion is a set of meshed relay nodes that clients treat as one.
type DERPRegion struct {
	RegionID   int
	RegionCode string
	RegionName string
	Latitude   float64 `json:",omitempty"`
	Longitude  float64 `json:",omitempty"`
	// Avoid is deprecated and only partly honoured by clients; prefer
	// NoMeasureNoHome.
	Avoid           bool `json:",omitempty"`
	NoMeasureNoHome bool `json:",omitempty"`
	// Nodes are in priority order: clients dial Nodes[0] first.
	Nodes []*DERPNode
}

// DERPNode is one relay server.
type DERPNode struct {
	// Name must be unique across the whole map, e.g. "900a".
	Name     string
	RegionID int
	// HostName is used for DNS (unless IPv4/IPv6 are set), the TLS server
	// name and the HTTP Host header.
	HostName string
	// CertName is "sha256-raw:<hex>" to pin the leaf certificate, or a name
	// to verify the certificate against instead of HostName.
	CertName string `json:",omitempty"`
	// IPv4 and IPv6 replace DNS for that family; a non-IP value such as
	// "none" disables the family.
	IPv4 string `json:",omitempty"`
	IPv6 string `json:",omitempty"`
	// STUNPort is 0 for 3478 and -1 for no STUN.
	STUNPort int  `json:",omitempty"`
	STUNOnly bool `json:",omitempty"`
	// DERPPort is 0 for 443.
	DERPPort         int    `json:",omitempty"`
	InsecureForTests bool   `json:",omitempty"`
	STUNTestIP       string `json:",omitempty"`
	CanPort80        bool   `json:",omitempty"`
}

// Render is m as indented JSON with a final newline, the form relayctl
// prints for operators to paste into a tailnet policy or save as a file.
func Render(m *DERPMap) ([]byte, error) {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("derp map: %w", err)
	}
	return append(b, '\n'), nil
}
