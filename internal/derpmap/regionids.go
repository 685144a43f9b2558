package derpmap

import "slices"

// RegionIDs returns the map's region IDs in ascending order.
func (m *DERPMap) RegionIDs() []int {
	ids := make([]int, 0, len(m.Regions))
	for id := range m.Regions {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}
