package derpmap

import (
	"maps"
	"slices"
)

// RegionIDs returns the map's region IDs in ascending order.
func (m *DERPMap) RegionIDs() []int {
	return slices.Sorted(maps.Keys(m.Regions))
}
