//go:build race

package server_test

// underRace: the race detector allocates, so allocation counts mean
// nothing under it.
const underRace = true
