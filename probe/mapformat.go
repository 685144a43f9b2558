package probe

import (
	"encoding/json"
	"fmt"

	"github.com/relayctl/relayctl/internal/derpmap"
)

// decodeMapDocument reads a DERP map source in any format relayctl
// accepts: Tailscale's DERPMap JSON as before, or a relayctl inventory, a
// Tailscale policy file (its derpMap member, HuJSON) or headscale's DERP
// YAML, told apart by their content. The other formats are decoded by
// internal/derpmap and validated here like JSON.
func decodeMapDocument(src string, b []byte) (*DERPMap, error) {
	if derpmap.SniffFormat(b) == derpmap.FormatJSON {
		return ParseDERPMap(b)
	}
	d, err := derpmap.Decode(src, b)
	if err != nil {
		return nil, err
	}
	j, err := json.Marshal(d.Map)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", d.Format, err)
	}
	m, err := ParseDERPMap(j)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", d.Format, err)
	}
	return m, nil
}
