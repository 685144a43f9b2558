//go:build race

package sockbuf

// underRace: the race detector allocates, so allocation counts mean
// nothing under it.
const underRace = true
